import { fail, redirect } from '@sveltejs/kit';
import { setSessionCookie, signIn } from '$lib/server/auth';
import { isAppError } from '$lib/server/errors';
import { sameOriginPath } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (locals.user) redirect(303, '/chat');
};

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
		redirect(303, sameOriginPath(url.searchParams.get('redirectTo'), url.origin));
	}
};
