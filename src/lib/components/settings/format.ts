// UTC and a fixed locale: the server renders the page and the browser hydrates it, and both
// must print the same text whatever their time zones.
const dateTime = new Intl.DateTimeFormat('en-GB', {
	day: 'numeric',
	month: 'short',
	year: 'numeric',
	hour: '2-digit',
	minute: '2-digit',
	timeZone: 'UTC'
});
const dateOnly = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

export function formatDateTime(value: Date | null, empty = 'Never'): string {
	return value ? `${dateTime.format(value)} UTC` : empty;
}

export function formatDate(value: Date | null, empty = 'Never'): string {
	return value ? dateOnly.format(value) : empty;
}

export const statusLabel = { active: 'Active', expired: 'Expired', revoked: 'Revoked' } as const;
