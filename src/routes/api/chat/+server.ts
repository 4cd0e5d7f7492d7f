import { handleWebChat } from '$lib/server/chat';
import { AppError, httpErrorResponse } from '$lib/server/errors';
import { chatDeps } from '$lib/server/services';
import type { RequestHandler } from './$types';

export const POST: RequestHandler = async ({ request, locals }) => {
	try {
		if (!locals.user) throw new AppError('unauthorized', 'Sign in to chat.');
		if (!/^application\/json\b/i.test(request.headers.get('content-type') ?? '')) {
			throw new AppError('unsupported_media_type', 'Send the chat request as JSON (content-type: application/json).');
		}
		const body: unknown = await request.json().catch(() => {
			throw new AppError('bad_request', 'The request body is not valid JSON.', { reason: 'invalid_json' });
		});
		return await handleWebChat(
			{
				deps: chatDeps(locals.services, locals.log),
				userId: locals.user.id,
				requestId: locals.requestId,
				signal: request.signal
			},
			body
		);
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
