import type { RequestEvent } from '@sveltejs/kit';
import { AppError } from '$lib/server/errors';
import type { Logger } from '$lib/server/log';
import type { Services } from '$lib/server/services';

export interface SessionUser {
	id: string;
	email: string;
	role: 'user' | 'admin';
}

export interface Context {
	services: Services;
	user: SessionUser | null;
	sessionId: string | null;
	ip: string;
	requestId: string;
	/** Present for HTTP calls; absent when a test or server code calls a router directly. */
	event?: RequestEvent;
}

/** The request's logger (every line carries `requestId`), also for calls made without HTTP. */
export function requestLog(ctx: Context): Logger {
	return ctx.event?.locals.log ?? ctx.services.log.child({ requestId: ctx.requestId });
}

export function createContext(event: RequestEvent): Context {
	// The session could not be read because PostgreSQL is unreachable: every procedure answers 503.
	if (event.locals.databaseUnavailable) {
		event.locals.services.metrics.databaseUnavailable();
		throw new AppError(
			'unavailable',
			'The service is temporarily unavailable (database unreachable). Try again shortly.',
			{
				retryAfterSeconds: 5
			}
		);
	}
	return {
		services: event.locals.services,
		user: event.locals.user,
		sessionId: event.locals.session?.id ?? null,
		ip: event.locals.clientIp,
		requestId: event.locals.requestId,
		event
	};
}
