/**
 * After a successful form action SvelteKit's `applyAction` moves focus to the page (or, when the
 * URL has a fragment, to it, in a timeout). Put it back on the button the user pressed, or on
 * `fallback()` when that button is gone (a removed key's card), so keyboard users stay in place.
 */
export function restoreFocus(submitter: HTMLElement | null, fallback?: () => HTMLElement | null | undefined): void {
	// A timeout queued after SvelteKit's own.
	setTimeout(() => {
		const target = submitter?.isConnected ? submitter : fallback?.();
		target?.focus();
	});
}
