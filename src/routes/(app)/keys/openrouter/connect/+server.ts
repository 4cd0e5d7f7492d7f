import { redirect } from '@sveltejs/kit';
import { startOpenRouterConnect, VERIFIER_COOKIE } from '$lib/server/keys';
import type { RequestHandler } from './$types';

/**
 * "Connect OpenRouter": off to OpenRouter's consent page, the verifier kept in a cookie. A link,
 * not a form: CSP `form-action 'self'` would stop a form's redirect to another site.
 */
export const GET: RequestHandler = async ({ locals, url, cookies }) => {
	if (!locals.user) redirect(303, '/signin?redirectTo=%2Fkeys');
	const { redirectUrl, verifier } = startOpenRouterConnect(
		locals.services.config,
		`${url.origin}/keys/openrouter/callback`
	);
	// Lax: OpenRouter brings the browser back with a top-level GET, which carries it.
	cookies.set(VERIFIER_COOKIE, verifier, {
		path: '/keys/openrouter',
		httpOnly: true,
		sameSite: 'lax',
		secure: url.protocol === 'https:',
		maxAge: 600
	});
	redirect(303, redirectUrl);
};
