import { exportConversationMarkdown } from '$lib/server/conversations';
import { AppError, httpErrorResponse } from '$lib/server/errors';
import { attachmentName } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** One conversation as a Markdown file: the branch ending at `?leaf=<message id>` (else the newest). */
export const GET: RequestHandler = async ({ locals, params, url }) => {
	try {
		if (!locals.user) throw new AppError('unauthorized', 'Sign in to export your conversations.');
		const { title, markdown } = await exportConversationMarkdown(locals.services.db, locals.user.id, {
			id: params.id,
			leaf: url.searchParams.get('leaf')
		});
		return new Response(markdown, {
			headers: {
				'content-type': 'text/markdown; charset=utf-8',
				'content-disposition': attachmentName(title, 'md'),
				'cache-control': 'no-store'
			}
		});
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
