import type { Handle } from '@sveltejs/kit';
import { createTRPCHandle } from 'trpc-sveltekit';
import { appRouter, createContext, appErrorOf } from '$lib/server/trpc';
import { AppError, httpErrorResponse } from '$lib/server/errors';

export const TRPC_PATH = '/api/trpc';

const handleTRPC = createTRPCHandle({
	router: appRouter,
	url: TRPC_PATH,
	createContext,
	// The error formatter already put the status the domain meant (402, 503, ...) in
	// `data.httpStatus`, which tRPC answers with; here only `retry-after` is added.
	responseMeta({ data }) {
		for (const response of data) {
			if (!('error' in response)) continue;
			const retryAfter = (response.error.data as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
			if (typeof retryAfter === 'number') return { headers: { 'retry-after': String(Math.ceil(retryAfter)) } };
		}
		return {};
	},
	onError({ error, ctx, path }) {
		const appError = appErrorOf(error);
		if (appError.code === 'internal' || appError.code === 'unavailable') {
			const log = ctx?.event?.locals.log ?? ctx?.services.log;
			log?.error({ err: error.cause ?? error, path }, 'tRPC procedure failed');
		}
	}
});

/** tRPC takes JSON only; anything else is a clear 415 before tRPC parses it. */
export const trpcHandle: Handle = async ({ event, resolve }) => {
	const { pathname } = event.url;
	if (pathname !== TRPC_PATH && !pathname.startsWith(`${TRPC_PATH}/`)) return resolve(event);
	if (event.request.method === 'POST') {
		const type = event.request.headers.get('content-type') ?? '';
		if (!/^application\/json\b/i.test(type)) {
			return httpErrorResponse(
				new AppError('unsupported_media_type', 'Send tRPC mutations as JSON (content-type: application/json).'),
				event.locals.requestId
			);
		}
	}
	return handleTRPC({ event, resolve });
};
