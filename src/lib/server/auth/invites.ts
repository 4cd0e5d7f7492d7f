import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import { recordAudit } from '$lib/server/audit';
import type { Database } from '$lib/server/db';
import { AppError, notFound } from '$lib/server/errors';
import { oneLineName, parseInput } from '$lib/server/validation';

/** Invitations to sign up (SIGNUP_MODE=invite): made by admins, one account each, stored as a hash. */

const INVITE_PREFIX = 'lki_';
const MAX_INVITE_DAYS = 90;

export const createInviteInput = z
	.object({
		note: oneLineName(z.string().trim().max(200, 'A note can be at most 200 characters.'), 'The note').optional(),
		expiresInDays: z
			.number({ invalid_type_error: `expiresInDays must be a whole number from 1 to ${MAX_INVITE_DAYS}.` })
			.int({ message: `expiresInDays must be a whole number from 1 to ${MAX_INVITE_DAYS}.` })
			.min(1, { message: `expiresInDays must be a whole number from 1 to ${MAX_INVITE_DAYS}.` })
			.max(MAX_INVITE_DAYS, { message: `expiresInDays must be a whole number from 1 to ${MAX_INVITE_DAYS}.` })
			.default(7)
	})
	.strict();

export const revokeInviteInput = z.object({ id: z.string().uuid({ message: 'Unknown invitation.' }) }).strict();

export interface InviteSummary {
	id: string;
	note: string | null;
	createdAt: Date;
	expiresAt: Date | null;
	status: 'open' | 'used' | 'revoked' | 'expired';
	usedByEmail: string | null;
}

const hashOf = (code: string) => createHash('sha256').update(code).digest('hex');

export async function createInvite(
	db: Kysely<Database>,
	input: unknown,
	actor: { userId: string; ip: string | null }
): Promise<{ id: string; code: string; expiresAt: Date }> {
	const { note, expiresInDays } = parseInput(createInviteInput, input);
	const code = `${INVITE_PREFIX}${randomBytes(18).toString('base64url')}`;
	return db.transaction().execute(async (trx) => {
		const row = await trx
			.insertInto('invite_codes')
			.values({
				code_hash: hashOf(code),
				note: note || null,
				created_by: actor.userId,
				expires_at: sql<Date>`now() + make_interval(days => ${expiresInDays})`
			})
			.returning(['id', 'expires_at'])
			.executeTakeFirstOrThrow();
		await recordAudit(trx, {
			action: 'invite.create',
			actorUserId: actor.userId,
			ip: actor.ip,
			details: { inviteId: row.id, expiresInDays }
		});
		return { id: row.id, code, expiresAt: row.expires_at as Date };
	});
}

export async function listInvites(db: Kysely<Database>): Promise<InviteSummary[]> {
	const rows = await db
		.selectFrom('invite_codes')
		.leftJoin('users', 'users.id', 'invite_codes.used_by')
		.select([
			'invite_codes.id',
			'invite_codes.note',
			'invite_codes.created_at',
			'invite_codes.expires_at',
			'invite_codes.used_at',
			'invite_codes.revoked_at',
			'users.email',
			sql<boolean>`invite_codes.expires_at is not null and invite_codes.expires_at <= now()`.as('expired')
		])
		.orderBy('invite_codes.created_at', 'desc')
		.limit(200)
		.execute();
	return rows.map((r) => ({
		id: r.id,
		note: r.note,
		createdAt: r.created_at,
		expiresAt: r.expires_at,
		status: r.used_at ? 'used' : r.revoked_at ? 'revoked' : r.expired ? 'expired' : 'open',
		usedByEmail: r.email ?? null
	}));
}

export async function revokeInvite(
	db: Kysely<Database>,
	input: unknown,
	actor: { userId: string; ip: string | null }
): Promise<{ id: string; revoked: boolean }> {
	const { id } = parseInput(revokeInviteInput, input);
	return db.transaction().execute(async (trx) => {
		const row = await trx
			.updateTable('invite_codes')
			.set({ revoked_at: sql<Date>`now()` })
			.where('id', '=', id)
			.where('used_at', 'is', null)
			.where('revoked_at', 'is', null)
			.returning('id')
			.executeTakeFirst();
		if (!row) {
			const exists = await trx.selectFrom('invite_codes').select('id').where('id', '=', id).executeTakeFirst();
			if (!exists) throw notFound('Unknown invitation.');
			return { id, revoked: false };
		}
		await recordAudit(trx, {
			action: 'invite.revoke',
			actorUserId: actor.userId,
			ip: actor.ip,
			details: { inviteId: id }
		});
		return { id, revoked: true };
	});
}

/** Marks `code` used by `userId` in the sign-up's transaction, or refuses it (never says which check failed). */
export async function consumeInvite(
	trx: Transaction<Database>,
	code: string | undefined,
	userId: string
): Promise<void> {
	const used = code
		? await trx
				.updateTable('invite_codes')
				.set({ used_by: userId, used_at: sql<Date>`now()` })
				.where('code_hash', '=', hashOf(code.trim()))
				.where('used_at', 'is', null)
				.where('revoked_at', 'is', null)
				.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
				.returning('id')
				.executeTakeFirst()
		: undefined;
	if (!used) {
		throw new AppError(
			'forbidden',
			code
				? 'This invite code is not valid: it may be mistyped, used, withdrawn or expired. Ask an administrator for a new one.'
				: 'Sign-up needs an invite code on this server. Ask an administrator for one.',
			{ reason: 'invite_required', details: { field: 'inviteCode' } }
		);
	}
}
