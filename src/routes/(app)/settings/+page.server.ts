import { fail, redirect } from '@sveltejs/kit';
import {
	changePassword,
	createAccessToken,
	listAccessTokens,
	revokeAccessToken,
	setSessionCookie,
	MAX_ACTIVE_TOKENS_PER_USER,
	MAX_TOKEN_NAME_LENGTH,
	MIN_PASSWORD_LENGTH
} from '$lib/server/auth';
import { isAppError, type AppError } from '$lib/server/errors';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url, setHeaders }) => {
	const user = locals.user;
	if (!user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname)}`);
	// Without JavaScript a new token arrives in this page's HTML: keep it out of every cache.
	setHeaders({ 'cache-control': 'no-store' });
	return {
		tokens: await listAccessTokens(locals.services.db, user.id),
		apiBaseUrl: `${url.origin}/api/v1`,
		maxActiveTokens: MAX_ACTIVE_TOKENS_PER_USER,
		maxNameLength: MAX_TOKEN_NAME_LENGTH,
		minPasswordLength: MIN_PASSWORD_LENGTH
	};
};

const text = (form: FormData, name: string) => {
	const value = form.get(name);
	return typeof value === 'string' ? value : '';
};

const fieldOf = (error: AppError) => (typeof error.details?.field === 'string' ? error.details.field : null);

/** An empty choice means "never expires"; anything else must be a whole number of days. */
function expiresInDaysOf(value: string): number | undefined {
	return value === '' || value === 'never' ? undefined : Number(value);
}

export const actions: Actions = {
	createToken: async ({ request, locals }) => {
		if (!locals.user) return fail(401, { action: 'createToken' as const, message: 'Sign in to continue.' });
		const form = await request.formData();
		const name = text(form, 'name');
		try {
			const created = await createAccessToken(
				locals.services.db,
				locals.user.id,
				{
					name,
					expiresInDays: expiresInDaysOf(text(form, 'expiresInDays'))
				},
				{ ip: locals.clientIp }
			);
			return { action: 'createToken' as const, created };
		} catch (error) {
			if (!isAppError(error)) throw error;
			return fail(error.status, {
				action: 'createToken' as const,
				message: error.message,
				field: fieldOf(error),
				name
			});
		}
	},

	revokeToken: async ({ request, locals }) => {
		if (!locals.user) return fail(401, { action: 'revokeToken' as const, message: 'Sign in to continue.' });
		const form = await request.formData();
		try {
			const revoked = await revokeAccessToken(
				locals.services.db,
				locals.user.id,
				{ id: text(form, 'id') },
				{ ip: locals.clientIp }
			);
			return { action: 'revokeToken' as const, revoked: { name: revoked.name, prefix: revoked.prefix } };
		} catch (error) {
			if (!isAppError(error)) throw error;
			return fail(error.status, { action: 'revokeToken' as const, message: error.message });
		}
	},

	changePassword: async ({ request, locals, cookies, url }) => {
		if (!locals.user) return fail(401, { action: 'changePassword' as const, message: 'Sign in to continue.' });
		const form = await request.formData();
		const newPassword = text(form, 'newPassword');
		// Passwords are never sent back to the page, not even on failure.
		if (newPassword !== text(form, 'confirmPassword')) {
			return fail(400, {
				action: 'changePassword' as const,
				message: 'The two new passwords do not match. Type the same new password twice.',
				field: 'confirmPassword'
			});
		}
		try {
			const result = await changePassword(
				locals.services,
				locals.user.id,
				{ currentPassword: text(form, 'currentPassword'), newPassword },
				{ currentSessionId: locals.session?.id ?? null, ip: locals.clientIp }
			);
			setSessionCookie(locals.services.lucia, cookies, result.session, url.protocol === 'https:');
			return {
				action: 'changePassword' as const,
				passwordChanged: true,
				otherSessionsEnded: result.otherSessionsEnded,
				tokensRevoked: result.tokensRevoked
			};
		} catch (error) {
			if (!isAppError(error)) throw error;
			return fail(error.status, { action: 'changePassword' as const, message: error.message, field: fieldOf(error) });
		}
	}
};
