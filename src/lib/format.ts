// Display formatting shared by the chat page and the usage dashboard (money is in $lib/money).

const compactTokens = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** "980", "9,999", then "12.3K", "1.2M". */
export function formatTokens(count: number): string {
	return count < 10_000 ? Math.round(count).toLocaleString('en-US') : compactTokens.format(count);
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
export const KEY_SOURCE_LABELS = {
	user: '🔑 Your key',
	app: 'App',
	unavailable: 'Needs a key',
	/** A key exists but a limit or cap stops every key that could serve it right now. */
	blocked: 'Limit reached'
} as const;
