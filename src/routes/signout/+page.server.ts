import { redirect } from '@sveltejs/kit';
import { clearSessionCookie, signOut } from '$lib/server/auth';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = () => {
	redirect(303, '/');
};

export const actions: Actions = {
	default: async ({ locals, cookies, url }) => {
		if (locals.session) await signOut(locals.services, locals.session.id);
		clearSessionCookie(locals.services.lucia, cookies, url.protocol === 'https:');
		redirect(303, '/signin?signedOut=1');
	}
};
