import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { recordAudit } from '$lib/server/audit';
import type { Database, Role } from '$lib/server/db';
import { AppError, notFound } from '$lib/server/errors';
import type { AccountUser } from './accounts';
import { emailSchema } from './schemas';

/**
 * Admin rights come only from an operator (`npm run admin -- grant`) or another admin (the
 * console), never from signing up. The role is read from the database on every request (the
 * session adapter joins `users`), so a change takes effect on the caller's next request.
 */

/** Who changes a role: an operator at the command line, or an admin in the console. */
export type RoleActor = { kind: 'operator'; name: string } | { kind: 'admin'; userId: string; ip: string | null };

/** An account by email (operators) or by id (the console). */
export type RoleTarget = { email: string } | { userId: string };

export interface RoleChange {
	user: AccountUser;
	/** False when the account already had that role: nothing changed, nothing audited. */
	changed: boolean;
	/** Admins after the change. */
	admins: number;
}

export const adminRoleInput = z
	.object({
		userId: z
			.string({ required_error: 'userId is required.', invalid_type_error: 'userId must be a user id.' })
			.uuid({ message: 'userId must be a user id.' })
	})
	.strict();

export const grantAdmin = (db: Kysely<Database>, target: RoleTarget, actor: RoleActor) =>
	setRole(db, target, 'admin', actor);

/**
 * An admin cannot revoke their own rights, and their own row is locked with the target's, so two
 * admins revoking each other at once cannot both succeed: the console never leaves nobody in
 * charge. An operator may revoke the last admin (they can grant again at any time).
 */
export const revokeAdmin = (db: Kysely<Database>, target: RoleTarget, actor: RoleActor) =>
	setRole(db, target, 'user', actor);

export async function listAdmins(db: Kysely<Database>): Promise<{ id: string; email: string; createdAt: Date }[]> {
	const rows = await db
		.selectFrom('users')
		.select(['id', 'email', 'created_at'])
		.where('role', '=', 'admin')
		.orderBy('email')
		.execute();
	return rows.map((row) => ({ id: row.id, email: row.email, createdAt: row.created_at }));
}

async function setRole(db: Kysely<Database>, target: RoleTarget, role: Role, actor: RoleActor): Promise<RoleChange> {
	return db.transaction().execute(async (trx) => {
		const targetId = await targetIdOf(trx, target);
		const ids = actor.kind === 'admin' ? [targetId, actor.userId] : [targetId];
		// Rows locked in id order, so two changes that lock the same two rows cannot deadlock.
		const rows = await trx
			.selectFrom('users')
			.select(['id', 'email', 'role'])
			.where('id', 'in', ids)
			.orderBy('id')
			.forUpdate()
			.execute();
		const user = rows.find((row) => row.id === targetId);
		if (!user) throw unknownAccount(target);
		if (actor.kind === 'admin') {
			if (rows.find((row) => row.id === actor.userId)?.role !== 'admin') {
				throw new AppError('forbidden', 'Only admins can do this.', { reason: 'not_admin' });
			}
			if (role !== 'admin' && user.id === actor.userId) {
				throw new AppError(
					'conflict',
					'You cannot remove your own admin rights. Another admin can, or an operator with `npm run admin -- revoke`.',
					{ reason: 'self_revoke' }
				);
			}
		}
		const changed = user.role !== role;
		if (changed) {
			await trx.updateTable('users').set({ role }).where('id', '=', user.id).execute();
			await recordAudit(trx, {
				action: role === 'admin' ? 'admin.grant' : 'admin.revoke',
				actorUserId: actor.kind === 'admin' ? actor.userId : null,
				subjectUserId: user.id,
				ip: actor.kind === 'admin' ? actor.ip : null,
				details: actor.kind === 'admin' ? { by: 'admin' } : { by: 'operator', operator: actor.name.slice(0, 100) }
			});
		}
		const { admins } = await trx
			.selectFrom('users')
			.select(sql<number>`count(*)::int`.as('admins'))
			.where('role', '=', 'admin')
			.executeTakeFirstOrThrow();
		return { user: { id: user.id, email: user.email, role }, changed, admins };
	});
}

async function targetIdOf(db: Kysely<Database>, target: RoleTarget): Promise<string> {
	if ('userId' in target) return target.userId;
	const parsed = emailSchema.safeParse(target.email);
	if (!parsed.success) {
		throw new AppError('bad_request', `"${target.email}" is not an email address.`, { reason: 'invalid_email' });
	}
	const row = await db.selectFrom('users').select('id').where('email', '=', parsed.data).executeTakeFirst();
	if (!row) throw unknownAccount(target);
	return row.id;
}

function unknownAccount(target: RoleTarget): AppError {
	if ('email' in target) {
		return notFound(`There is no account with the email ${target.email.trim()}. The person must sign up first.`);
	}
	return notFound('There is no user with that id.');
}
