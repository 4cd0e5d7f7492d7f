import { error, redirect } from '@sveltejs/kit';
import { getConversation } from '$lib/server/conversations';
import { isAppError } from '$lib/server/errors';
import type { PageServerLoad } from './$types';

/** A conversation by its address, so a reload (or a bookmark) shows the history. Others' ids are 404. */
export const load: PageServerLoad = async ({ locals, params, url }) => {
	const user = locals.user;
	if (!user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname)}`);
	try {
		const conversation = await getConversation(locals.services.db, user.id, { id: params.id });
		return {
			conversation: {
				id: conversation.id,
				title: conversation.title,
				model: conversation.model,
				systemPrompt: conversation.systemPrompt,
				messages: conversation.messages
			}
		};
	} catch (cause) {
		// A malformed id and someone else's id look the same: the conversation does not exist for you.
		if (isAppError(cause) && (cause.code === 'not_found' || cause.code === 'bad_request')) {
			error(404, { message: 'That conversation does not exist.' });
		}
		throw cause;
	}
};
