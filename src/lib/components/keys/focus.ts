/**
 * The pressed button was disabled while its change ran, or is gone (a removed key's card): put
 * focus back on it, or on `fallback()`, so keyboard users stay in place.
 */
export function restoreFocus(submitter: HTMLElement | null, fallback?: () => HTMLElement | null | undefined): void {
	// A timeout: after the page data and the result have rendered.
	setTimeout(() => {
		const target = submitter?.isConnected ? submitter : fallback?.();
		target?.focus();
	});
}
