import { redirect } from '@sveltejs/kit';
import { listNotifications } from '$lib/server/notifications';
import { RECENT_LIMIT, UNREAD_LIMIT } from '$lib/notifications.svelte';
import type { LayoutServerLoad } from './$types';

/**
 * Everything under (app) needs a signed-in user; others go to sign-in and come back after.
 * It also loads the bell's notifications; this reruns on every navigation and after every form
 * action, which is when a new notification most likely appeared.
 */
export const load: LayoutServerLoad = async ({ locals, url }) => {
	if (!locals.user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
	const { db } = locals.services;
	const [unread, recent] = await Promise.all([
		listNotifications(db, locals.user.id, { unreadOnly: true, limit: UNREAD_LIMIT }),
		listNotifications(db, locals.user.id, { limit: RECENT_LIMIT })
	]);
	return { user: locals.user, notifications: { unread, recent } };
};
