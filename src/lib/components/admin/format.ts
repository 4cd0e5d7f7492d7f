// Shared by the admin pages (money is in $lib/money, provider names in $lib/providers); dates print
// in UTC so server and browser render the same text.

export { formatDate, formatDateTime } from '$lib/components/settings/format';

/** A fraction from 0 to 1 as "42.9 %", or an em dash when nothing was counted. */
export function formatRate(rate: number | null): string {
	if (rate === null) return '—';
	const percent = rate * 100;
	return `${percent === Math.round(percent) ? percent.toFixed(0) : percent.toFixed(1)} %`;
}

export function formatCount(value: number): string {
	return value.toLocaleString('en-US');
}

export const keySourceName = (source: string): string => (source === 'user' ? 'Own key' : 'App key');

/** Why a request did not go to the user's own key first, in words. */
export const FALLBACK_REASONS: Record<string, string> = {
	no_key: 'No own key',
	key_invalid: 'Own key marked invalid',
	key_expired: 'Own key expired',
	key_rejected: 'Own key rejected',
	rate_limited: 'Rate-limited upstream',
	quota: 'Out of credit or quota',
	upstream_error: 'Provider error',
	timeout: 'Timeout',
	network: 'Network error',
	own_limit_reached: 'Own-key limit reached',
	all_failed: 'Every key failed'
};

export const fallbackReasonName = (reason: string): string => FALLBACK_REASONS[reason] ?? reason;
