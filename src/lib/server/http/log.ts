import type { Handle, RequestEvent } from '@sveltejs/kit';
import { randomUUID } from 'node:crypto';
import { looksLikeSecret } from '$lib/server/log';
import { getServices } from '$lib/server/services';
import { TRPC_PATH } from './trpc';

/**
 * The outermost handle: gives the request a new id and a child logger that stamps it on every
 * line (`event.locals.log`), then logs one line per request (method, path without the query
 * string, status, milliseconds until the response started) and feeds the HTTP metrics.
 *
 * The id is always ours: it keys the request's limits reservation and usage record, and a
 * client-chosen id sent twice would reuse an old (settled) admission and skip the limits. A
 * caller's own `x-request-id`, when short and plain, is logged beside it as `clientRequestId`.
 */
export const requestLogHandle: Handle = async ({ event, resolve }) => {
	const services = getServices();
	const started = performance.now();
	const requestId = randomUUID();
	const clientRequestId = plainRequestId(event.request.headers.get('x-request-id'));
	event.locals.requestId = requestId;
	event.locals.log = services.log.child(clientRequestId ? { requestId, clientRequestId } : { requestId });

	let status = 500;
	try {
		const response = await resolve(event);
		status = response.status;
		return response;
	} finally {
		const elapsedMs = performance.now() - started;
		const { method } = event.request;
		const path = event.url.pathname;
		services.metrics.observeHttp({ method, route: routeLabel(event), status, seconds: elapsedMs / 1000 });
		const line = {
			method,
			path,
			status,
			durationMs: Math.round(elapsedMs * 10) / 10,
			...(event.locals.user ? { userId: event.locals.user.id } : {})
		};
		// Probes and scrapes arrive every few seconds; they would drown the rest at info.
		if (QUIET_PATHS.has(path)) event.locals.log.debug(line, 'request');
		else event.locals.log.info(line, 'request');
	}
};

const QUIET_PATHS = new Set(['/healthz', '/metrics']);

/**
 * A caller's request id, only when it is short and plain and not shaped like a key or an access
 * token (a client that puts its token there must not get it logged), so it is safe to log.
 */
export function plainRequestId(header: string | null): string | undefined {
	return header && /^[A-Za-z0-9._:-]{1,64}$/.test(header) && !looksLikeSecret(header) ? header : undefined;
}

/** A bounded label for metrics: the route id, never the raw path (ids, tokens, typos). */
function routeLabel(event: RequestEvent): string {
	if (event.route.id) return event.route.id;
	const path = event.url.pathname;
	if (path === TRPC_PATH || path.startsWith(`${TRPC_PATH}/`)) return TRPC_PATH;
	return 'unmatched';
}
