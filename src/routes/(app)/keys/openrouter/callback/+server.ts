import { redirect } from '@sveltejs/kit';
import { isAppError } from '$lib/server/errors';
import { finishOpenRouterConnect, VERIFIER_COOKIE } from '$lib/server/keys';
import type { RequestHandler } from './$types';

/**
 * OpenRouter sends the browser back here with `?code=`. The outcome goes to /keys as a fixed
 * code the page puts in words; nothing from the query is shown back.
 */
export const GET: RequestHandler = async ({ locals, url, cookies }) => {
	if (!locals.user) redirect(303, '/signin?redirectTo=%2Fkeys');
	const verifier = cookies.get(VERIFIER_COOKIE);
	cookies.delete(VERIFIER_COOKIE, { path: '/keys/openrouter' });
	let outcome: string;
	try {
		await finishOpenRouterConnect(
			locals.services,
			{ userId: locals.user.id, ip: locals.clientIp || null },
			{ code: url.searchParams.get('code'), verifier }
		);
		outcome = 'connected';
	} catch (error) {
		if (!isAppError(error)) throw error;
		locals.log.warn({ reason: error.reason ?? error.code }, 'connecting OpenRouter failed');
		outcome = error.reason ?? 'connect_failed';
	}
	redirect(303, `/keys?openrouter=${encodeURIComponent(outcome)}`);
};
