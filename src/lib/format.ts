/**
 * Display formatting shared by the chat page and the usage dashboard. Money arrives from the
 * server as integer micro-dollars and is formatted with integer arithmetic only, so what a person
 * reads is exactly what was summed; nothing here adds money up.
 */

const MICROS_PER_USD = 1_000_000;

/** Digits after the decimal point of `units / 10^scale`, without trailing zeros but at least `minDecimals`. */
function decimalString(units: number, scale: number, minDecimals: number): string {
	const divisor = 10 ** scale;
	const whole = Math.floor(units / divisor);
	const fraction = String(units % divisor)
		.padStart(scale, '0')
		.replace(/0+$/, '')
		.padEnd(minDecimals, '0');
	return `${whole.toLocaleString('en-US')}.${fraction}`;
}

/**
 * US dollars from integer micro-dollars: cents from $1 up ("$1.23", "$1,234.50"), three significant
 * digits below a dollar ("$0.0425", "$0.000123"), so tiny per-message costs stay visible.
 */
export function formatUsd(micros: number): string {
	const value = Math.round(micros);
	const sign = value < 0 ? '-' : '';
	let abs = Math.abs(value);
	if (abs === 0) return '$0.00';
	if (abs >= MICROS_PER_USD) {
		const cents = Math.round(abs / 10_000);
		return `${sign}$${decimalString(cents, 2, 2)}`;
	}
	// Round to three significant digits; integers, so the rounding is exact.
	const step = 10 ** Math.max(0, String(abs).length - 3);
	abs = Math.round(abs / step) * step;
	return `${sign}$${decimalString(abs, 6, 2)}`;
}

const compactTokens = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** "980", "9,999", then "12.3K", "1.2M". */
export function formatTokens(count: number): string {
	return count < 10_000 ? Math.round(count).toLocaleString('en-US') : compactTokens.format(count);
}

/**
 * A catalog price (integer micro-dollars per million tokens) as dollars per 1,000 tokens, exact:
 * 150_000 → "$0.00015", 15_000_000 → "$0.015".
 */
export function pricePer1k(microsPerMTok: number): string {
	// µ$ per Mtok = 10^-6 $ per 10^6 tok, so $ per 1k tok = microsPerMTok / 10^9.
	const value = Math.round(microsPerMTok);
	if (value === 0) return '$0.00';
	return `$${decimalString(value, 9, 2)}`;
}

/** "15:00 UTC"; a moment on a later UTC day than `now` also names the date ("00:00 UTC on 2026-11-14"). */
export function formatResetTime(at: Date, now = new Date()): string {
	const time = `${at.toISOString().slice(11, 16)} UTC`;
	const endOfToday = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
	// Compared at the minute shown: a reset derived from a rounded-up retry-after can land a few
	// seconds after midnight, and "00:00 UTC" still means tonight.
	const shownMinute = Math.floor(at.getTime() / 60_000) * 60_000;
	return shownMinute <= endOfToday ? time : `${time} on ${at.toISOString().slice(0, 10)}`;
}

/** "in 45 s", "in 12 min", "in 3 h 5 min": how long until a limit resets. */
export function formatWait(seconds: number): string {
	const s = Math.max(0, Math.ceil(seconds));
	if (s < 60) return `in ${s} s`;
	const minutes = Math.ceil(s / 60);
	if (minutes < 60) return `in ${minutes} min`;
	const hours = Math.floor(minutes / 60);
	const rest = minutes % 60;
	return rest === 0 ? `in ${hours} h` : `in ${hours} h ${rest} min`;
}

/** The words for key sources, the same everywhere (the selector, messages, the dashboard). */
export const KEY_SOURCE_LABELS = { user: '🔑 Your key', app: 'App', unavailable: 'Needs a key' } as const;

export const PROVIDER_LABELS = {
	openai: 'OpenAI',
	anthropic: 'Anthropic',
	google: 'Google Gemini',
	openrouter: 'OpenRouter'
} as const;

export type ProviderKey = keyof typeof PROVIDER_LABELS;
