import { fail, redirect } from '@sveltejs/kit';
import { setSessionCookie, signIn } from '$lib/server/auth';
import { isAppError } from '$lib/server/errors';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (locals.user) redirect(303, '/chat');
};

/** Only same-site paths are followed after sign-in, never another host. */
function safeRedirect(target: string | null): string {
	return target && target.startsWith('/') && !target.startsWith('//') && !target.startsWith('/\\') ? target : '/chat';
}

export const actions: Actions = {
	default: async ({ request, locals, cookies, url }) => {
		const form = await request.formData();
		const email = String(form.get('email') ?? '');
		const password = String(form.get('password') ?? '');
		try {
			const { session } = await signIn(locals.services, { email, password }, { ip: locals.clientIp });
			setSessionCookie(locals.services.lucia, cookies, session, url.protocol === 'https:');
		} catch (error) {
			if (isAppError(error)) {
				return fail(error.status, { email, message: error.message, field: null });
			}
			throw error;
		}
		redirect(303, safeRedirect(url.searchParams.get('redirectTo')));
	}
};
