import type { Handle } from '@sveltejs/kit';
import { SESSION_COOKIE_NAME, setSessionCookie, clearSessionCookie } from '$lib/server/auth';
import { getServices } from '$lib/server/services';
import { randomUUID } from 'node:crypto';

/** Puts services, a request id, the client address and the signed-in user on `event.locals`. */
export const sessionHandle: Handle = async ({ event, resolve }) => {
	const services = getServices();
	event.locals.services = services;
	event.locals.requestId = sanitizeRequestId(event.request.headers.get('x-request-id')) ?? randomUUID();
	event.locals.clientIp = event.getClientAddress();
	event.locals.user = null;
	event.locals.session = null;

	const sessionId = event.cookies.get(SESSION_COOKIE_NAME);
	if (sessionId) {
		const secure = event.url.protocol === 'https:';
		const { session, user } = await services.lucia.validateSession(sessionId);
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

/** Accept a caller's request id only when it is short and plain, so it is safe to log and echo. */
function sanitizeRequestId(value: string | null): string | undefined {
	return value && /^[A-Za-z0-9._:-]{8,64}$/.test(value) ? value : undefined;
}
