import { fail, redirect } from '@sveltejs/kit';
import { setSessionCookie, signUp } from '$lib/server/auth';
import { isAppError } from '$lib/server/errors';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (locals.user) redirect(303, '/chat');
	return { signUpMode: locals.services.config.signUp.mode };
};

export const actions: Actions = {
	default: async ({ request, locals, cookies, url }) => {
		const form = await request.formData();
		const email = String(form.get('email') ?? '');
		const password = String(form.get('password') ?? '');
		const inviteCode = form.get('inviteCode');
		try {
			const input = { email, password, ...(typeof inviteCode === 'string' ? { inviteCode } : {}) };
			const { session } = await signUp(locals.services, input, { ip: locals.clientIp });
			setSessionCookie(locals.services.lucia, cookies, session, url.protocol === 'https:');
		} catch (error) {
			if (isAppError(error)) {
				return fail(error.status, { email, message: error.message, field: fieldOf(error.details) });
			}
			throw error;
		}
		redirect(303, '/chat');
	}
};

function fieldOf(details: Record<string, unknown> | undefined): string | null {
	return typeof details?.field === 'string' ? details.field : null;
}
