import type { HandleServerError } from '@sveltejs/kit';
import { isDatabaseUnavailable } from '$lib/server/db';
import { getServices } from '$lib/server/services';
import { UNAVAILABLE_MESSAGE } from './unavailable';

/**
 * Unexpected errors in pages and endpoints: logged with the request id, shown without details.
 * A lost database connection is marked on the request so the unavailable handle answers 503.
 */
export const handleServerError: HandleServerError = ({ error, event, status, message }) => {
	const requestId = event.locals.requestId;
	if (status >= 500 && isDatabaseUnavailable(error)) {
		event.locals.databaseUnavailable = true;
		event.locals.log.warn({ err: error, path: event.url.pathname }, 'database unreachable; answered 503');
		return { message: UNAVAILABLE_MESSAGE, requestId, code: 'unavailable' };
	}
	if (status >= 500) {
		try {
			const log = event.locals.log ?? getServices().log;
			log.error({ err: error, requestId, path: event.url.pathname }, 'unhandled server error');
		} catch {
			console.error('unhandled server error before start-up finished');
		}
		return {
			message: 'Something went wrong on our side. Try again; if it keeps happening, quote the request id.',
			requestId
		};
	}
	return { message, requestId };
};
