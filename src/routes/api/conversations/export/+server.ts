import { exportAllConversations } from '$lib/server/conversations';
import { AppError, httpErrorResponse } from '$lib/server/errors';
import { attachmentName } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** Every conversation of the signed-in person as one JSON file (all branches, images included), streamed. */
export const GET: RequestHandler = async ({ locals }) => {
	try {
		if (!locals.user) throw new AppError('unauthorized', 'Sign in to export your conversations.');
		const now = new Date();
		const parts = exportAllConversations(locals.services.db, locals.user.id, now);
		const encoder = new TextEncoder();
		const body = new ReadableStream<Uint8Array>({
			async pull(controller) {
				const next = await parts.next();
				if (next.done) controller.close();
				else controller.enqueue(encoder.encode(next.value));
			},
			async cancel() {
				await parts.return(undefined);
			}
		});
		return new Response(body, {
			headers: {
				'content-type': 'application/json; charset=utf-8',
				'content-disposition': attachmentName(`latchkey-conversations-${now.toISOString().slice(0, 10)}`, 'json'),
				'cache-control': 'no-store'
			}
		});
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
