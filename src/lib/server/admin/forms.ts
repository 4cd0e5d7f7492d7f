/**
 * HTML forms carry text; the admin pages turn it into the shapes the procedures take.
 * An empty limit field clears the admin's ceiling (the configured default applies again).
 */

export const LIMIT_FIELDS = ['requestsPerHour', 'tokensPerHour', 'dailyCapUsd', 'appDailyCapUsd'] as const;

export const formText = (form: FormData, name: string): string => {
	const value = form.get(name);
	return typeof value === 'string' ? value.trim() : '';
};

/** `admin.setLimits` input from the user page's per-provider limits form. */
export function adminLimitsFromForm(form: FormData, userId: string): Record<string, unknown> {
	const input: Record<string, unknown> = { userId, provider: formText(form, 'provider') };
	for (const field of LIMIT_FIELDS) {
		const text = formText(form, field).replace(/[$,_\s]/g, '');
		// Number('') is 0, so blank is handled first; anything not numeric becomes NaN and gets the
		// schema's message naming the field.
		input[field] = text === '' ? null : Number(text);
	}
	return input;
}
