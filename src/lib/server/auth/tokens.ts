import { createHash, randomInt } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { usdToMicros } from '$lib/money';
import { recordAudit } from '$lib/server/audit';
import type { Database } from '$lib/server/db';
import { AppError, notFound, unauthorized } from '$lib/server/errors';
import { parseInput } from '$lib/server/validation';
import { createAccessTokenInput, MAX_ACTIVE_TOKENS_PER_USER, revokeAccessTokenInput } from './token-schemas';

/**
 * Personal access tokens, `lk_<lookup id>_<secret>`: the 8-character lookup id is public (finds the
 * row), the 43-character secret has 256 bits, so a fast SHA-256 of the whole token is all we store.
 */

export const ACCESS_TOKEN_PREFIX = 'lk_';

const LOOKUP_ID_LENGTH = 8;
/** 43 × log2(62) ≈ 256.1 bits. */
const SECRET_LENGTH = 43;
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export type AccessTokenStatus = 'active' | 'expired' | 'revoked';

/** What `tokens.list()` shows: never the token, never its hash. */
export interface AccessTokenSummary {
	id: string;
	name: string;
	/** `lk_<lookup id>`: enough to recognise a token, useless to sign in with. */
	prefix: string;
	createdAt: Date;
	lastUsedAt: Date | null;
	expiresAt: Date | null;
	revokedAt: Date | null;
	status: AccessTokenStatus;
	/** Model ids or `prefix*` patterns it may use; null = every model. */
	modelScope: string[] | null;
	/** Its own budgets in micro-dollars (null = none; the account's caps apply either way). */
	dailyBudgetMicros: number | null;
	monthlyBudgetMicros: number | null;
	/** What its requests cost this UTC day and month (usage records), in micro-dollars. */
	spentTodayMicros: number;
	spentThisMonthMicros: number;
}

/** The one answer that carries the token itself; it is not stored and cannot be shown again. */
export interface CreatedAccessToken {
	id: string;
	name: string;
	prefix: string;
	token: string;
	createdAt: Date;
	expiresAt: Date | null;
	modelScope: string[] | null;
	dailyBudgetMicros: number | null;
	monthlyBudgetMicros: number | null;
}

/** Request facts for the audit log. */
export interface TokenRequestMeta {
	ip?: string | null;
}

function randomBase62(length: number): string {
	let out = '';
	// randomInt draws from the CSPRNG without modulo bias.
	for (let i = 0; i < length; i++) out += BASE62[randomInt(BASE62.length)];
	return out;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Usable = not revoked and not past its expiry, judged by the database clock everywhere. */
export const usableSql = sql<boolean>`(access_tokens.revoked_at is null and (access_tokens.expires_at is null or access_tokens.expires_at > now()))`;

const statusSql = sql<AccessTokenStatus>`case
	when access_tokens.revoked_at is not null then 'revoked'
	when access_tokens.expires_at is not null and access_tokens.expires_at <= now() then 'expired'
	else 'active' end`;

/** Sum of the token's usage since `since` (SQL), in micro-dollars. */
function spentSince(since: RawBuilder<Date>) {
	return sql<number>`(select coalesce(sum(u.cost_micros), 0)::bigint from usage_records u
		where u.token_id = access_tokens.id and u.created_at >= ${since})`;
}

const dayStartSql = sql<Date>`(date_trunc('day', now() at time zone 'UTC') at time zone 'UTC')`;
const monthStartSql = sql<Date>`(date_trunc('month', now() at time zone 'UTC') at time zone 'UTC')`;

function summaryColumns() {
	return [
		'access_tokens.id',
		'access_tokens.name',
		'access_tokens.lookup_id',
		'access_tokens.created_at',
		'access_tokens.last_used_at',
		'access_tokens.expires_at',
		'access_tokens.revoked_at',
		statusSql.as('status'),
		// JSON, not text[]: `pg` and PGlite parse it the same way.
		sql<string[] | null>`to_json(access_tokens.model_scope)`.as('model_scope'),
		'access_tokens.daily_budget_micros',
		'access_tokens.monthly_budget_micros',
		spentSince(dayStartSql).as('spent_today_micros'),
		spentSince(monthStartSql).as('spent_month_micros')
	] as const;
}

interface SummaryRow {
	id: string;
	name: string;
	lookup_id: string;
	created_at: Date;
	last_used_at: Date | null;
	expires_at: Date | null;
	revoked_at: Date | null;
	status: AccessTokenStatus;
	model_scope: string[] | null;
	daily_budget_micros: number | null;
	monthly_budget_micros: number | null;
	spent_today_micros: number;
	spent_month_micros: number;
}

function toSummary(row: SummaryRow): AccessTokenSummary {
	return {
		id: row.id,
		name: row.name,
		prefix: `${ACCESS_TOKEN_PREFIX}${row.lookup_id}`,
		createdAt: row.created_at,
		lastUsedAt: row.last_used_at,
		expiresAt: row.expires_at,
		revokedAt: row.revoked_at,
		status: row.status,
		modelScope: row.model_scope,
		dailyBudgetMicros: row.daily_budget_micros === null ? null : Number(row.daily_budget_micros),
		monthlyBudgetMicros: row.monthly_budget_micros === null ? null : Number(row.monthly_budget_micros),
		spentTodayMicros: Number(row.spent_today_micros),
		spentThisMonthMicros: Number(row.spent_month_micros)
	};
}

/** A validated USD budget in micro-dollars; null for none. */
function budgetMicros(usd: number | null | undefined): number | null {
	return usd === null || usd === undefined ? null : (usdToMicros(usd) ?? null);
}

/** Creates a token, shown this once; the user's row is locked while counting, so parallel creates cannot pass the limit. */
export async function createAccessToken(
	db: Kysely<Database>,
	userId: string,
	input: unknown,
	meta: TokenRequestMeta = {}
): Promise<CreatedAccessToken> {
	const { name, expiresInDays, modelScope, dailyBudgetUsd, monthlyBudgetUsd } = parseInput(
		createAccessTokenInput,
		input
	);
	const limits = {
		model_scope: modelScope ?? null,
		daily_budget_micros: budgetMicros(dailyBudgetUsd),
		monthly_budget_micros: budgetMicros(monthlyBudgetUsd)
	};
	return db.transaction().execute(async (trx) => {
		const user = await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().executeTakeFirst();
		if (!user) throw unauthorized();
		const { active } = await trx
			.selectFrom('access_tokens')
			.select((eb) => eb.fn.countAll<number>().as('active'))
			.where('user_id', '=', userId)
			.where(usableSql)
			.executeTakeFirstOrThrow();
		if (active >= MAX_ACTIVE_TOKENS_PER_USER) {
			throw new AppError(
				'bad_request',
				`You already have ${MAX_ACTIVE_TOKENS_PER_USER} active access tokens, the most allowed. Revoke one you no longer use, then create a new one.`,
				{ reason: 'too_many_tokens', details: { limit: MAX_ACTIVE_TOKENS_PER_USER } }
			);
		}
		const expiresAt = expiresInDays ? sql<Date>`now() + make_interval(days => ${expiresInDays})` : null;
		// A lookup id collision (1 in ~2^47 per pair) just draws again; `do nothing` keeps the
		// transaction usable where a unique violation would abort it.
		for (let attempt = 0; attempt < 5; attempt++) {
			const lookupId = randomBase62(LOOKUP_ID_LENGTH);
			const token = `${ACCESS_TOKEN_PREFIX}${lookupId}_${randomBase62(SECRET_LENGTH)}`;
			const row = await trx
				.insertInto('access_tokens')
				.values({
					user_id: userId,
					name,
					lookup_id: lookupId,
					token_hash: sha256(token).toString('hex'),
					expires_at: expiresAt,
					...limits
				})
				.onConflict((oc) => oc.column('lookup_id').doNothing())
				.returning(['id', 'name', 'created_at', 'expires_at'])
				.executeTakeFirst();
			if (row) {
				await recordAudit(trx, {
					action: 'token.create',
					actorUserId: userId,
					subjectUserId: userId,
					ip: meta.ip ?? null,
					details: {
						tokenId: row.id,
						prefix: `${ACCESS_TOKEN_PREFIX}${lookupId}`,
						expiresInDays: expiresInDays ?? null,
						modelScope: limits.model_scope,
						dailyBudgetMicros: limits.daily_budget_micros,
						monthlyBudgetMicros: limits.monthly_budget_micros
					}
				});
				return {
					id: row.id,
					name: row.name,
					prefix: `${ACCESS_TOKEN_PREFIX}${lookupId}`,
					token,
					createdAt: row.created_at,
					expiresAt: row.expires_at,
					modelScope: limits.model_scope,
					dailyBudgetMicros: limits.daily_budget_micros,
					monthlyBudgetMicros: limits.monthly_budget_micros
				};
			}
		}
		throw new Error('could not draw a unique access token lookup id');
	});
}

/** The user's tokens, newest first, with their status; revoked and expired ones included. */
export async function listAccessTokens(db: Kysely<Database>, userId: string): Promise<AccessTokenSummary[]> {
	const rows = await db
		.selectFrom('access_tokens')
		.select(summaryColumns())
		.where('user_id', '=', userId)
		.orderBy('created_at', 'desc')
		.orderBy('id')
		.execute();
	return rows.map(toSummary);
}

/** Revokes one of the user's tokens (again: a no-op); another user's token id is a 404 like an unknown one. */
export async function revokeAccessToken(
	db: Kysely<Database>,
	userId: string,
	input: unknown,
	meta: TokenRequestMeta = {}
): Promise<AccessTokenSummary> {
	const { id } = parseInput(revokeAccessTokenInput, input);
	return db.transaction().execute(async (trx) => {
		const revoked = await trx
			.updateTable('access_tokens')
			.set({ revoked_at: sql<Date>`now()` })
			.where('id', '=', id)
			.where('user_id', '=', userId)
			.where('revoked_at', 'is', null)
			.returning(summaryColumns())
			.executeTakeFirst();
		if (revoked) {
			await recordAudit(trx, {
				action: 'token.revoke',
				actorUserId: userId,
				subjectUserId: userId,
				ip: meta.ip ?? null,
				details: { tokenId: revoked.id, prefix: `${ACCESS_TOKEN_PREFIX}${revoked.lookup_id}` }
			});
			return toSummary(revoked);
		}
		const already = await trx
			.selectFrom('access_tokens')
			.select(summaryColumns())
			.where('id', '=', id)
			.where('user_id', '=', userId)
			.executeTakeFirst();
		if (!already) throw notFound('No such access token.');
		return toSummary(already);
	});
}

/** Revokes every usable token of the user (password change); returns how many. */
export async function revokeAllAccessTokens(db: Kysely<Database>, userId: string): Promise<number> {
	const rows = await db
		.updateTable('access_tokens')
		.set({ revoked_at: sql<Date>`now()` })
		.where('user_id', '=', userId)
		.where(usableSql)
		.returning('id')
		.execute();
	return rows.length;
}
