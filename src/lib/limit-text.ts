import { microsToUsd, usdToMicros } from '$lib/money';

// What a person typed into a limit field, as `limits.set` and `admin.setLimits` take it: empty is
// null (clears the setting); text that is no amount is NaN, which the procedure refuses with its
// message naming the field.

/** "2.50", "$1,000" → dollars. */
export function usdFromText(text: string): number | null {
	if (text.trim() === '') return null;
	const micros = usdToMicros(text);
	return micros === undefined ? NaN : microsToUsd(micros);
}

/** "50", "1,000" → a whole number. */
export function countFromText(text: string): number | null {
	const digits = text.replace(/[,_\s]/g, '');
	if (digits === '') return null;
	return /^\d+$/.test(digits) ? Number(digits) : NaN;
}
