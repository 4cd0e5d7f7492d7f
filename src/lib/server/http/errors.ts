import type { HandleServerError } from '@sveltejs/kit';
import { getServices } from '$lib/server/services';

/** Unexpected errors in pages and endpoints: logged with the request id, shown without details. */
export const handleServerError: HandleServerError = ({ error, event, status, message }) => {
	const requestId = event.locals.requestId;
	if (status >= 500) {
		try {
			getServices().log.error({ err: error, requestId, path: event.url.pathname }, 'unhandled server error');
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
