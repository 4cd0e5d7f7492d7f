import { handleWebChat } from '$lib/server/chat';
import { AppError, httpErrorResponse } from '$lib/server/errors';
import { clientSignal, closeAfterDraining, readJsonBody } from '$lib/server/http';
import { chatDeps } from '$lib/server/services';
import type { RequestHandler } from './$types';

export const POST: RequestHandler = async ({ request, locals, platform }) => {
	try {
		if (!locals.user) throw new AppError('unauthorized', 'Sign in to chat.');
		if (!/^application\/json\b/i.test(request.headers.get('content-type') ?? '')) {
			throw new AppError('unsupported_media_type', 'Send the chat request as JSON (content-type: application/json).');
		}
		let body: unknown;
		try {
			// The size limit is adapter-node's BODY_SIZE_LIMIT; past it, a 413 rather than "not JSON".
			body = await readJsonBody(request, Number.POSITIVE_INFINITY);
		} catch (error) {
			return await closeAfterDraining(httpErrorResponse(error, locals.requestId), request, platform?.req);
		}
		return await handleWebChat(
			{
				deps: chatDeps(locals.services, locals.log),
				userId: locals.user.id,
				requestId: locals.requestId,
				signal: clientSignal(request, platform)
			},
			body
		);
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
