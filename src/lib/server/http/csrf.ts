import type { Handle } from '@sveltejs/kit';
import { httpErrorResponse, AppError } from '$lib/server/errors';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * SvelteKit checks the Origin of form posts only. Cookie-authenticated JSON endpoints (tRPC,
 * /api/chat) get the same rule here: a browser request from another site is refused. Calls with
 * a Bearer token (the OpenAI-compatible API) carry no ambient credentials and are exempt.
 */
export function isCrossSiteRequest(request: Request, url: URL): boolean {
	if (!STATE_CHANGING.has(request.method)) return false;
	if (url.pathname.startsWith('/api/v1/')) return false;
	const origin = request.headers.get('origin');
	if (origin !== null) return origin !== url.origin;
	// No Origin: only non-browser clients omit it; browsers that send Fetch Metadata tell us.
	return request.headers.get('sec-fetch-site') === 'cross-site';
}

export const csrfHandle: Handle = async ({ event, resolve }) => {
	if (isCrossSiteRequest(event.request, event.url)) {
		return httpErrorResponse(
			new AppError('forbidden', 'Cross-site request refused. Use the app from its own address.', { reason: 'csrf' }),
			event.locals.requestId
		);
	}
	return resolve(event);
};
