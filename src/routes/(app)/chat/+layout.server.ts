import { redirect } from '@sveltejs/kit';
import { listConversations } from '$lib/server/conversations';
import { listModelsForUser } from '$lib/server/routing';
import type { LayoutServerLoad } from './$types';

/**
 * What every chat page shows around the conversation: the list of conversations and the models
 * with the key that would serve each. The page invalidates `chat:sidebar` after every turn, since
 * limits (and so the selector's warnings) and the list order change with each answer.
 */
export const load: LayoutServerLoad = async ({ locals, url, depends }) => {
	depends('chat:sidebar');
	const user = locals.user;
	// The (app) layout redirects too, but loads run in parallel: never query without a user.
	if (!user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname)}`);
	const { db, config } = locals.services;
	const [conversations, models] = await Promise.all([
		listConversations(db, user.id),
		listModelsForUser(db, config, user.id)
	]);
	return { conversations: conversations.map(({ id, title }) => ({ id, title })), models };
};
