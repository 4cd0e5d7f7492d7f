import type { Handle } from '@sveltejs/kit';
import { SESSION_COOKIE_NAME, setSessionCookie, clearSessionCookie } from '$lib/server/auth';
import { isDatabaseUnavailable } from '$lib/server/db';
import { getServices } from '$lib/server/services';
import { randomUUID } from 'node:crypto';

/** Puts services, a request id, the client address and the signed-in user on `event.locals`. */
export const sessionHandle: Handle = async ({ event, resolve }) => {
	const services = getServices();
	event.locals.services = services;
	// Normally set already by the request log handle, which runs first. Never the caller's own id:
	// it keys the limits reservation and usage record (see http/log.ts).
	event.locals.requestId ??= randomUUID();
	event.locals.log ??= services.log.child({ requestId: event.locals.requestId });
	event.locals.clientIp = event.getClientAddress();
	event.locals.user = null;
	event.locals.session = null;

	const sessionId = event.cookies.get(SESSION_COOKIE_NAME);
	if (sessionId) {
		const secure = event.url.protocol === 'https:';
		let validated: Awaited<ReturnType<typeof services.lucia.validateSession>>;
		try {
			validated = await services.lucia.validateSession(sessionId);
		} catch (error) {
			if (!isDatabaseUnavailable(error)) throw error;
			// Nobody can be signed in or out now; the unavailable handle answers 503 (tRPC: its context).
			event.locals.databaseUnavailable = true;
			const response = await resolve(event);
			response.headers.set('x-request-id', event.locals.requestId);
			return response;
		}
		const { session, user } = validated;
		if (session && user) {
			// Lucia extends sessions past half their life; the cookie must follow.
			if (session.fresh) setSessionCookie(services.lucia, event.cookies, session, secure);
			event.locals.session = { id: session.id, expiresAt: session.expiresAt };
			event.locals.user = { id: user.id, email: user.email, role: user.role };
		} else {
			clearSessionCookie(services.lucia, event.cookies, secure);
		}
	}

	const response = await resolve(event);
	response.headers.set('x-request-id', event.locals.requestId);
	return response;
};
