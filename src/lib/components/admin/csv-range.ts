/**
 * What is wrong with a CSV export's dates before the form goes to the server (which checks them
 * again): said in the form's words, "From" and "To (inclusive)" as YYYY-MM-DD days.
 */
export function csvRangeProblem(from: string, to: string, maxDays: number): string | null {
	if (from === '' || to === '') return 'Choose both dates: From and To.';
	const start = Date.parse(`${from}T00:00:00Z`);
	const end = Date.parse(`${to}T00:00:00Z`);
	if (Number.isNaN(start) || Number.isNaN(end)) return 'Enter the dates as YYYY-MM-DD.';
	if (end < start) return `“To” (${to}) is before “From” (${from}): choose a To date on or after the From date.`;
	const days = (end - start) / 86_400_000 + 1;
	if (days > maxDays)
		return `That is ${days} days; one file covers at most ${maxDays}. Export a longer period in parts.`;
	return null;
}

/** The message of the server's OpenAI-shaped error body, or a sentence for an answer without one. */
export async function csvErrorMessage(response: Response): Promise<string> {
	const body: unknown = await response.json().catch(() => null);
	const error = typeof body === 'object' && body !== null && 'error' in body ? body.error : null;
	const message = typeof error === 'object' && error !== null && 'message' in error ? error.message : null;
	return typeof message === 'string' && message !== ''
		? message
		: `The export failed (HTTP ${response.status}). Try again.`;
}
