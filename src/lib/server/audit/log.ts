import type { Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';

/**
 * What happened. Other domains add their actions here; the table only checks the shape
 * (`domain.verb`), so a new action needs no migration.
 */
export const AUDIT_ACTIONS = [
	'key.add',
	'key.replace',
	'key.remove',
	'key.validate',
	'key.activate',
	'key.deactivate',
	/** The owner set, changed or cleared a key's expiry (keys domain). */
	'key.set_expiry',
	'key.reorder',
	'key.set_pinned',
	/** An admin lifted their switch-off of a key (admin domain). */
	'key.unblock',
	/** A provider rejected the key during a request (routing), or a check found it invalid. */
	'key.invalidate',
	'vault.rotate',
	/** An admin set a user's limit ceilings (limits domain). */
	'limits.set_ceiling',
	/** Personal access tokens and password changes (auth domain). */
	'token.create',
	'token.revoke',
	'password.change',
	/** Someone who is not an admin tried an admin page, procedure or the CSV export (admin domain). */
	'admin.forbidden',
	/** An operator (`npm run admin`) or another admin granted or revoked admin rights (auth domain). */
	'admin.grant',
	'admin.revoke',
	/** An admin switched off, or marked for re-checking, one provider's keys of every user: counts in details. */
	'admin.bulk_deactivate_keys',
	'admin.bulk_revalidate_keys',
	/** An admin made or withdrew an invitation to sign up (SIGNUP_MODE=invite). */
	'invite.create',
	'invite.revoke',
	/** An admin downloaded usage as CSV: filters, rows sent, whether it completed (usage domain). */
	'usage.export',
	/** An admin changed which models the app key may serve (catalog domain). */
	'catalog.set_rules',
	/** An admin set or removed a model's price override (catalog domain). */
	'catalog.set_price',
	'catalog.delete_price'
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Flat, typed facts only: no free-form objects, so key material has nowhere to hide. */
export type AuditDetailValue = string | number | boolean | null | readonly string[];
export type AuditDetails = Record<string, AuditDetailValue>;

export interface AuditEntry {
	action: AuditAction;
	/** Who did it; null for the system (scheduled revalidation, rotation script). */
	actorUserId?: string | null;
	/** Whose data it concerned. */
	subjectUserId?: string | null;
	provider?: Provider | null;
	keyId?: string | null;
	/** The request's client address, when there was a request. */
	ip?: string | null;
	details?: AuditDetails;
}

export interface AuditRecord {
	id: number;
	at: Date;
	action: string;
	actorUserId: string | null;
	subjectUserId: string | null;
	provider: string | null;
	keyId: string | null;
	ip: string | null;
	details: Record<string, unknown>;
}

/**
 * Appends one entry. The table refuses UPDATE, DELETE and TRUNCATE (trigger), so this is the
 * only way it changes. Pass the transaction when the audited change has one, so both commit together.
 */
export async function recordAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
	await db
		.insertInto('audit_log')
		.values({
			action: entry.action,
			actor_user_id: entry.actorUserId ?? null,
			subject_user_id: entry.subjectUserId ?? null,
			provider: entry.provider ?? null,
			key_id: entry.keyId ?? null,
			ip: entry.ip ? entry.ip.slice(0, 100) : null,
			details: JSON.stringify(entry.details ?? {})
		})
		.execute();
}

export interface AuditFilters {
	subjectUserId?: string;
	actorUserId?: string;
	action?: string;
	provider?: Provider;
	/** Inclusive lower bound on `at`. */
	from?: Date;
	/** Exclusive upper bound on `at`. */
	to?: Date;
	/** Cursor: only entries older than this id (the previous page's `nextCursor`). */
	beforeId?: number;
	/** 1 to MAX_AUDIT_PAGE, default 100. */
	limit?: number;
}

export interface AuditPage {
	entries: AuditRecord[];
	/** Pass as `beforeId` for the next page; null when this was the last. */
	nextCursor: number | null;
}

export const MAX_AUDIT_PAGE = 500;

/** Newest first, for the admin viewer. Filters are trusted values (the caller validated input). */
export async function listAudit(db: Kysely<Database>, filters: AuditFilters = {}): Promise<AuditPage> {
	const limit = Math.min(Math.max(Math.trunc(filters.limit ?? 100), 1), MAX_AUDIT_PAGE);
	let query = db.selectFrom('audit_log').selectAll();
	if (filters.subjectUserId) query = query.where('subject_user_id', '=', filters.subjectUserId);
	if (filters.actorUserId) query = query.where('actor_user_id', '=', filters.actorUserId);
	if (filters.action) query = query.where('action', '=', filters.action);
	if (filters.provider) query = query.where('provider', '=', filters.provider);
	if (filters.from) query = query.where('at', '>=', filters.from);
	if (filters.to) query = query.where('at', '<', filters.to);
	if (filters.beforeId !== undefined) query = query.where('id', '<', filters.beforeId);
	const rows = await query
		.orderBy('id', 'desc')
		.limit(limit + 1)
		.execute();
	const page = rows.slice(0, limit);
	return {
		entries: page.map((row) => ({
			id: row.id,
			at: row.at,
			action: row.action,
			actorUserId: row.actor_user_id,
			subjectUserId: row.subject_user_id,
			provider: row.provider,
			keyId: row.key_id,
			ip: row.ip,
			details: row.details
		})),
		nextCursor: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null
	};
}
