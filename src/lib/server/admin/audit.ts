import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { listAudit, recordAudit, type AuditRecord } from '$lib/server/audit';
import { AppError } from '$lib/server/errors';
import { parseUtcBound } from '$lib/server/utc-range';
import { parseInput } from '$lib/server/validation';
import { adminAuditLogInput, isUuid } from './schemas';

/** The audit log viewer (newest first, cursor paging) and the record of refused admin attempts. */

export interface AdminAuditEntry extends AuditRecord {
	actorEmail: string | null;
	subjectEmail: string | null;
}

export interface AdminAuditPage {
	entries: AdminAuditEntry[];
	/** Pass as `cursor` for the next (older) page; null on the last. */
	nextCursor: number | null;
}

/** An email or id to a user id; an unknown email is a 400 naming the field. Ids pass as they are
 * (entries outlive the users they mention). */
async function userIdOf(db: Kysely<Database>, reference: string, field: string): Promise<string> {
	if (isUuid(reference)) return reference.toLowerCase();
	const user = await db
		.selectFrom('users')
		.select('id')
		.where('email', 'in', [reference, reference.toLowerCase()])
		.executeTakeFirst();
	if (!user) {
		throw new AppError('bad_request', `No user has the email ${reference}.`, {
			reason: 'unknown_user',
			details: { field }
		});
	}
	return user.id;
}

export async function adminAuditLog(db: Kysely<Database>, input: unknown): Promise<AdminAuditPage> {
	const filters = parseInput(adminAuditLogInput, input ?? {});
	const from = parseUtcBound(filters.from, 'from');
	const to = parseUtcBound(filters.to, 'to');
	if (from && to && to.getTime() <= from.getTime()) {
		throw new AppError('bad_request', 'to must be after from.', { reason: 'invalid_range', details: { field: 'to' } });
	}
	const page = await listAudit(db, {
		action: filters.action,
		provider: filters.provider,
		subjectUserId: filters.user ? await userIdOf(db, filters.user, 'user') : undefined,
		actorUserId: filters.actor ? await userIdOf(db, filters.actor, 'actor') : undefined,
		from,
		to,
		beforeId: filters.cursor,
		limit: filters.limit
	});
	const ids = [
		...new Set(page.entries.flatMap((e) => [e.actorUserId, e.subjectUserId]).filter((id): id is string => !!id))
	];
	const users =
		ids.length === 0 ? [] : await db.selectFrom('users').select(['id', 'email']).where('id', 'in', ids).execute();
	const emailOf = (id: string | null) => (id ? (users.find((u) => u.id === id)?.email ?? null) : null);
	return {
		entries: page.entries.map((entry) => ({
			...entry,
			actorEmail: emailOf(entry.actorUserId),
			subjectEmail: emailOf(entry.subjectUserId)
		})),
		nextCursor: page.nextCursor
	};
}

export interface ForbiddenAttempt {
	/** The signed-in user who is not an admin. */
	actorUserId: string;
	/** What they tried: a page path, `/api/admin/usage.csv`, or `/api/trpc/admin.<procedure>`. */
	path: string;
	ip: string | null;
	method?: string;
}

/** Audits a refused admin attempt as `admin.forbidden`. */
export async function recordForbiddenAttempt(db: Kysely<Database>, attempt: ForbiddenAttempt): Promise<void> {
	await recordAudit(db, {
		action: 'admin.forbidden',
		actorUserId: attempt.actorUserId,
		ip: attempt.ip,
		details: { path: attempt.path.slice(0, 300), method: attempt.method ?? null }
	});
}
