import { redirect } from '@sveltejs/kit';
import {
	listAccessTokens,
	MAX_ACTIVE_TOKENS_PER_USER,
	MAX_TOKEN_NAME_LENGTH,
	MIN_PASSWORD_LENGTH
} from '$lib/server/auth';
import { getAlertSettings, listDeliveries } from '$lib/server/alerts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url, setHeaders }) => {
	const user = locals.user;
	if (!user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname)}`);
	// The user's own tokens: never kept by a cache.
	setHeaders({ 'cache-control': 'no-store' });
	return {
		tokens: await listAccessTokens(locals.services.db, user.id),
		apiBaseUrl: `${url.origin}/api/v1`,
		maxActiveTokens: MAX_ACTIVE_TOKENS_PER_USER,
		maxNameLength: MAX_TOKEN_NAME_LENGTH,
		minPasswordLength: MIN_PASSWORD_LENGTH,
		alerts: await getAlertSettings(locals.services, user.id),
		deliveries: await listDeliveries(locals.services.db, user.id, { limit: 20 })
	};
};
