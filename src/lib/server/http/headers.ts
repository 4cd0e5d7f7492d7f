import type { Handle } from '@sveltejs/kit';

/**
 * Security headers for every response. The Content-Security-Policy itself comes from SvelteKit
 * (`kit.csp` in svelte.config.js) so it can hash SvelteKit's own inline bootstrap script.
 */
export const securityHeadersHandle: Handle = async ({ event, resolve }) => {
	const response = await resolve(event);
	const headers = response.headers;
	const set = (name: string, value: string) => {
		if (!headers.has(name)) headers.set(name, value);
	};
	try {
		set('x-content-type-options', 'nosniff');
		set('referrer-policy', 'same-origin');
		set('x-frame-options', 'DENY');
		set('cross-origin-opener-policy', 'same-origin');
		set('cross-origin-resource-policy', 'same-origin');
		set('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()');
		if (event.url.protocol === 'https:') set('strict-transport-security', 'max-age=31536000; includeSubDomains');
		if (event.url.pathname.startsWith('/api/')) set('cache-control', 'no-store');
	} catch {
		// Some responses (e.g. fetched upstream ones) have immutable headers; nothing to add then.
	}
	return response;
};
