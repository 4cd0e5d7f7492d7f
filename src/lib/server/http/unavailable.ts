import type { Handle, RequestEvent } from '@sveltejs/kit';
import { isDatabaseUnavailable } from '$lib/server/db';
import { AppError, httpErrorResponse } from '$lib/server/errors';
import { TRPC_PATH } from './trpc';

/**
 * PostgreSQL unreachable: every endpoint says so with a 503 and `retry-after` instead of a 500 or
 * a misleading "sign in" (tRPC through its own error shape, JSON endpoints with the OpenAI-shaped
 * body, pages with an error page), and the next request after the database is back is served
 * normally: nothing here is sticky, the pool reconnects by itself.
 *
 * Three ways in: the session lookup failed (`locals.databaseUnavailable`, set by the session
 * handle), a handle or endpoint threw a connection error, or a page load or form action did and
 * SvelteKit rendered its error page with 500 (`handleServerError` marks it; the status is fixed
 * here).
 */
export const UNAVAILABLE_MESSAGE = 'The service is temporarily unavailable (database unreachable). Try again shortly.';
const RETRY_AFTER_SECONDS = 5;

/** These answer on their own while the database is down: tRPC (its context throws), probes, metrics. */
function answersOnItsOwn(pathname: string): boolean {
	return (
		pathname === TRPC_PATH || pathname.startsWith(`${TRPC_PATH}/`) || pathname === '/healthz' || pathname === '/metrics'
	);
}

export const databaseUnavailableHandle: Handle = async ({ event, resolve }) => {
	if (event.locals.databaseUnavailable && !answersOnItsOwn(event.url.pathname)) return unavailableResponse(event);
	let response: Response;
	try {
		response = await resolve(event);
	} catch (error) {
		if (!isDatabaseUnavailable(error)) throw error;
		return unavailableResponse(event, error);
	}
	if (event.locals.databaseUnavailable && response.status === 500) {
		event.locals.services.metrics.databaseUnavailable();
		const headers = new Headers(response.headers);
		headers.set('retry-after', String(RETRY_AFTER_SECONDS));
		return new Response(response.body, { status: 503, headers });
	}
	return response;
};

function unavailableResponse(event: RequestEvent, error?: unknown): Response {
	const { services, requestId } = event.locals;
	services.metrics.databaseUnavailable();
	event.locals.log.warn({ err: error, path: event.url.pathname }, 'database unreachable; answered 503');
	const headers = {
		'retry-after': String(RETRY_AFTER_SECONDS),
		'cache-control': 'no-store',
		'x-request-id': requestId
	};
	const { pathname } = event.url;
	if (pathname.startsWith('/api/')) {
		const response = httpErrorResponse(
			new AppError('unavailable', UNAVAILABLE_MESSAGE, { retryAfterSeconds: RETRY_AFTER_SECONDS }),
			requestId
		);
		response.headers.set('cache-control', 'no-store');
		response.headers.set('x-request-id', requestId);
		return response;
	}
	const appError = { message: UNAVAILABLE_MESSAGE, requestId, code: 'unavailable' };
	// SvelteKit's client-side navigation and enhanced forms read JSON; they show it on the error page.
	if (pathname.endsWith('/__data.json')) {
		return Response.json(appError, { status: 503, headers });
	}
	if (event.request.headers.get('x-sveltekit-action') === 'true') {
		return Response.json({ type: 'error', error: appError }, { status: 503, headers });
	}
	return new Response(unavailablePage(requestId), {
		status: 503,
		headers: { ...headers, 'content-type': 'text/html; charset=utf-8' }
	});
}

/** A page without scripts or styles of its own, so it needs nothing from the app or the CSP. */
function unavailablePage(requestId: string): string {
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>503 · Latchkey</title>
</head>
<body>
<main>
<h1>Temporarily unavailable</h1>
<p>${UNAVAILABLE_MESSAGE}</p>
<p>Request id: <code>${requestId.replace(/[^A-Za-z0-9._:-]/g, '')}</code></p>
<p><a href="">Reload</a></p>
</main>
</body>
</html>
`;
}
