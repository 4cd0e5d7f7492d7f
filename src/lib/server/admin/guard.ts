import { error, redirect } from '@sveltejs/kit';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import type { Logger } from '$lib/server/log';
import { recordForbiddenAttempt } from './audit';

/**
 * Admin-only doors outside tRPC (page loads, the CSV endpoint). tRPC's `adminProcedure`
 * does the same in its middleware. A refused signed-in user is audited as `admin.forbidden`.
 */

interface Caller {
	id: string;
	email: string;
	role: 'user' | 'admin';
}

export interface AdminCheck {
	db: Kysely<Database>;
	log: Logger;
	user: Caller | null;
	path: string;
	method: string;
	ip: string | null;
}

/**
 * Audits the attempt; a failing audit write is logged and does not turn the 403 into a 500.
 */
export async function auditForbidden(check: Omit<AdminCheck, 'user'> & { user: Caller }): Promise<void> {
	try {
		await recordForbiddenAttempt(check.db, {
			actorUserId: check.user.id,
			path: check.path,
			method: check.method,
			ip: check.ip
		});
	} catch (auditError) {
		check.log.error({ err: auditError, path: check.path }, 'could not audit a refused admin attempt');
	}
}

/** The admin, or an AppError: 401 signed out, 403 (audited) for everyone else. */
export async function requireAdmin(check: AdminCheck): Promise<Caller & { role: 'admin' }> {
	const { user } = check;
	if (!user) throw new AppError('unauthorized', 'Sign in as an admin to continue.');
	if (user.role !== 'admin') {
		await auditForbidden({ ...check, user });
		throw new AppError('forbidden', 'Only admins can do this.');
	}
	return { ...user, role: 'admin' };
}

interface PageEvent {
	locals: App.Locals;
	url: URL;
	request: Request;
}

/** For admin page loads: sign-in redirect, or the 403 page (audited). */
export async function requireAdminPage(event: PageEvent): Promise<Caller & { role: 'admin' }> {
	const { locals, url, request } = event;
	if (!locals.user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
	try {
		return await requireAdmin({
			db: locals.services.db,
			log: locals.log,
			user: locals.user,
			path: url.pathname,
			method: request.method,
			ip: locals.clientIp || null
		});
	} catch (refusal) {
		if (refusal instanceof AppError) error(refusal.status, 'Only admins can open the admin console.');
		throw refusal;
	}
}
