import type { KeyView, SourceLimitView } from './types';

/** What a key card's badge says. `expired`, `paused` and `inactive` are derived, not stored. */
export type DisplayStatus = 'valid' | 'invalid' | 'unverified' | 'expired' | 'paused' | 'inactive';

export const STATUS_LABELS: Record<DisplayStatus, string> = {
	valid: 'Valid',
	invalid: 'Invalid',
	expired: 'Expired',
	unverified: 'Unverified',
	paused: 'Paused',
	inactive: 'Inactive'
};

/**
 * Switched off beats everything (it is the user's choice); then expired (re-testing will not
 * help); a rejected key beats a paused one (replacing it is what to do); paused (today's own-key
 * cap reached) beats valid and unverified.
 */
export function displayStatusOf(key: KeyView, own: Pick<SourceLimitView, 'paused'>): DisplayStatus {
	if (!key.isActive) return 'inactive';
	if (key.expired) return 'expired';
	if (key.status === 'invalid') return 'invalid';
	if (own.paused) return 'paused';
	return key.status;
}

/** The last check's error code, briefly. Codes come from the key check: `http_401`, `timeout`, ... */
export function describeErrorCode(code: string): string {
	if (code === 'api_key_invalid') return 'API_KEY_INVALID';
	if (code === 'timeout') return 'no answer within 10 seconds';
	if (code === 'network') return 'network error';
	const http = /^http_(\d{3})$/.exec(code);
	if (!http) return code;
	const status = Number(http[1]);
	if (status === 401) return '401 Unauthorized';
	if (status === 403) return '403 Forbidden';
	if (status === 429) return '429 rate limited';
	if (status >= 500) return `server error ${status}`;
	return `HTTP ${status}`;
}
