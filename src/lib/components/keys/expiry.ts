import { formatDateTime } from '$lib/components/settings/format';

/** The add form's and the card's choices: LibreChat's spans, never, or a moment of one's own. */
export type ExpiryOption = 'never' | '12h' | '1d' | '7d' | 'custom';

export const EXPIRY_OPTIONS: { value: ExpiryOption; label: string }[] = [
	{ value: 'never', label: 'Does not expire' },
	{ value: '12h', label: 'In 12 hours' },
	{ value: '1d', label: 'In 1 day' },
	{ value: '7d', label: 'In 7 days' },
	{ value: 'custom', label: 'On a date…' }
];

/**
 * What `keys.upsert` and `keys.setExpiry` take for a choice. `custom` is a datetime-local value
 * (the browser's time zone); one that is not a date goes as typed, so the server words the error.
 */
export function expiryInput(
	option: ExpiryOption,
	custom: string
): { expiresIn: Exclude<ExpiryOption, 'custom'> } | { expiresAt: Date | string } {
	if (option !== 'custom') return { expiresIn: option };
	const at = new Date(custom);
	return { expiresAt: Number.isNaN(at.getTime()) ? custom : at };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const plural = (count: number, unit: string) => `${count} ${unit}${count === 1 ? '' : 's'}`;

/** "Expires in 3 days", "Expired on 4 Dec 2026, 18:00 UTC", or "Does not expire". */
export function describeExpiry(expiresAt: Date | null, now: Date): string {
	if (!expiresAt) return 'Does not expire';
	const left = expiresAt.getTime() - now.getTime();
	if (left <= 0) return `Expired on ${formatDateTime(expiresAt)}`;
	if (left >= 2 * DAY) return `Expires in ${plural(Math.round(left / DAY), 'day')}`;
	if (left >= 2 * HOUR) return `Expires in ${plural(Math.round(left / HOUR), 'hour')}`;
	return `Expires in ${plural(Math.max(1, Math.round(left / MINUTE)), 'minute')}`;
}
