import { exportAllConversations } from '$lib/server/conversations';
import { AppError, httpErrorResponse } from '$lib/server/errors';
import { attachmentName } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** Every conversation of the signed-in person as one JSON file (all branches, images included). */
export const GET: RequestHandler = async ({ locals }) => {
	try {
		if (!locals.user) throw new AppError('unauthorized', 'Sign in to export your conversations.');
		const all = await exportAllConversations(locals.services.db, locals.user.id);
		return new Response(JSON.stringify(all, null, 2), {
			headers: {
				'content-type': 'application/json; charset=utf-8',
				'content-disposition': attachmentName(`latchkey-conversations-${all.exportedAt.slice(0, 10)}`, 'json'),
				'cache-control': 'no-store'
			}
		});
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
