import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { recordAudit } from '$lib/server/audit';
import { lastUseIsStale, type Database, type Role } from '$lib/server/db';
import { AppError, notFound, unauthorized } from '$lib/server/errors';
import { parseInput } from '$lib/server/validation';

/**
 * Personal access tokens for the OpenAI-compatible API: `lk_<lookup id>_<secret>`.
 *
 * The lookup id (8 base62 characters, ~47 bits) is public: it finds the row and is shown as the
 * token's prefix. The secret is 43 base62 characters (≥ 256 bits from the CSPRNG). Only a SHA-256
 * of the whole token is stored. A fast unsalted hash is right here, unlike for passwords: with
 * 256 bits of entropy there is nothing to guess, so a leaked table yields no usable token and a
 * slow hash would only cost us time on every API request.
 */

export const ACCESS_TOKEN_PREFIX = 'lk_';
export const MAX_ACTIVE_TOKENS_PER_USER = 20;
export const MAX_TOKEN_NAME_LENGTH = 100;
export const MAX_TOKEN_LIFETIME_DAYS = 365;

const LOOKUP_ID_LENGTH = 8;
/** 43 × log2(62) ≈ 256.1 bits. */
const SECRET_LENGTH = 43;
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN_PATTERN = /^lk_([A-Za-z0-9]{8})_([A-Za-z0-9]{43})$/;
/** Compared against when no row matches, so a miss costs the same comparison as a wrong secret. */
const NO_MATCH_HASH = Buffer.alloc(32);

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
}

/** The one answer that carries the token itself; it is not stored and cannot be shown again. */
export interface CreatedAccessToken {
	id: string;
	name: string;
	prefix: string;
	token: string;
	createdAt: Date;
	expiresAt: Date | null;
}

/** Who a valid token acts for. */
export interface AccessTokenOwner {
	userId: string;
	email: string;
	role: Role;
	tokenId: string;
}

const nameMessage = 'Give the token a name, such as "laptop" or "CI".';
const daysMessage = `expiresInDays must be a whole number of days from 1 to ${MAX_TOKEN_LIFETIME_DAYS}, or left out for a token that does not expire.`;

export const tokenNameSchema = z
	.string({ required_error: nameMessage, invalid_type_error: nameMessage })
	.transform((value) => value.trim())
	.pipe(
		z
			.string()
			.min(1, nameMessage)
			.max(MAX_TOKEN_NAME_LENGTH, `Token names can be at most ${MAX_TOKEN_NAME_LENGTH} characters.`)
			.regex(/^\P{Cc}*$/u, 'Token names cannot contain control characters such as line breaks.')
	);

export const createAccessTokenInput = z
	.object({
		name: tokenNameSchema,
		/** Omitted or null: the token does not expire. */
		expiresInDays: z
			.number({ invalid_type_error: daysMessage })
			.int(daysMessage)
			.min(1, daysMessage)
			.max(MAX_TOKEN_LIFETIME_DAYS, daysMessage)
			.nullish()
	})
	.strict();

export const revokeAccessTokenInput = z
	.object({
		id: z
			.string({ required_error: 'id is required.', invalid_type_error: 'id must be a token id.' })
			.uuid('id must be a token id.')
	})
	.strict();

export type CreateAccessTokenInput = z.input<typeof createAccessTokenInput>;
/** Request facts for the audit log. */
export interface TokenRequestMeta {
	ip?: string | null;
}
export type RevokeAccessTokenInput = z.input<typeof revokeAccessTokenInput>;

function randomBase62(length: number): string {
	let out = '';
	// randomInt draws from the CSPRNG without modulo bias.
	for (let i = 0; i < length; i++) out += BASE62[randomInt(BASE62.length)];
	return out;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Usable = not revoked and not past its expiry, judged by the database clock everywhere. */
const usableSql = sql<boolean>`(access_tokens.revoked_at is null and (access_tokens.expires_at is null or access_tokens.expires_at > now()))`;

const statusSql = sql<AccessTokenStatus>`case
	when access_tokens.revoked_at is not null then 'revoked'
	when access_tokens.expires_at is not null and access_tokens.expires_at <= now() then 'expired'
	else 'active' end`;

function summaryColumns() {
	return [
		'access_tokens.id',
		'access_tokens.name',
		'access_tokens.lookup_id',
		'access_tokens.created_at',
		'access_tokens.last_used_at',
		'access_tokens.expires_at',
		'access_tokens.revoked_at',
		statusSql.as('status')
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
		status: row.status
	};
}

/**
 * Creates a token and returns it, the only time it is ever available. At most
 * `MAX_ACTIVE_TOKENS_PER_USER` active tokens per user: the user's row is locked while counting,
 * so parallel requests (also from several instances) cannot go past the limit.
 */
export async function createAccessToken(
	db: Kysely<Database>,
	userId: string,
	input: unknown,
	meta: TokenRequestMeta = {}
): Promise<CreatedAccessToken> {
	const { name, expiresInDays } = parseInput(createAccessTokenInput, input);
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
					expires_at: expiresAt
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
						expiresInDays: expiresInDays ?? null
					}
				});
				return {
					id: row.id,
					name: row.name,
					prefix: `${ACCESS_TOKEN_PREFIX}${lookupId}`,
					token,
					createdAt: row.created_at,
					expiresAt: row.expires_at
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

/**
 * Revokes one of the user's tokens; revoking a revoked token changes nothing and succeeds.
 * Another user's token id is answered exactly like an unknown one.
 */
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

const staleUseSql = lastUseIsStale('access_tokens.last_used_at');

export interface CheckedToken {
	owner: AccessTokenOwner;
	/** Whether `last_used_at` is older than a minute (or unset) and should be written. */
	stale: boolean;
}

/** What the token check reads: the token's row by its lookup id, and its owner. */
interface TokenRow {
	token_id: string;
	token_hash: string;
	user_id: string;
	email: string;
	role: Role;
	usable: boolean;
	stale: boolean;
}

/**
 * A presented token's check, for callers that read more in the same statement (the API's chat
 * reads the owner's routing facts with it: one round trip instead of two). Null for a token of
 * the wrong shape: garbage of any size never reaches the database.
 */
export function accessTokenCheck(db: Kysely<Database>, bearer: string) {
	const match = typeof bearer === 'string' && bearer.length < 100 ? TOKEN_PATTERN.exec(bearer) : null;
	const lookupId = match?.[1];
	if (!lookupId) return null;
	const presented = sha256(bearer);
	return {
		/** The token's row and its owner (no row: unknown lookup id). Join more onto it. */
		query: db
			.selectFrom('access_tokens')
			.innerJoin('users', 'users.id', 'access_tokens.user_id')
			.select([
				'access_tokens.id as token_id',
				'access_tokens.token_hash',
				'users.id as user_id',
				'users.email',
				'users.role',
				usableSql.as('usable'),
				staleUseSql.as('stale')
			])
			.where('access_tokens.lookup_id', '=', lookupId),
		/**
		 * True on the row of this very token while it is usable. Reads of the owner's secrets
		 * (sealed keys) joined onto `query` are gated on it, so a wrong secret reads none; the
		 * verdict itself is `judge`'s constant-time comparison.
		 */
		matches: sql<boolean>`(access_tokens.token_hash = ${presented.toString('hex')} and ${usableSql})`,
		/** The verdict on the row `query` returned. The stored hash is compared in constant time. */
		judge(row: TokenRow | undefined): CheckedToken | null {
			const stored = row ? Buffer.from(row.token_hash, 'hex') : NO_MATCH_HASH;
			const secretMatches = timingSafeEqual(presented, stored);
			if (!row || !secretMatches || !row.usable) return null;
			return {
				owner: { userId: row.user_id, email: row.email, role: row.role, tokenId: row.token_id },
				stale: row.stale
			};
		}
	};
}

/** One query: the token's row, its owner, whether it is usable and whether its last use is stale. */
async function checkAccessToken(db: Kysely<Database>, bearer: string): Promise<CheckedToken | null> {
	const check = accessTokenCheck(db, bearer);
	if (!check) return null;
	return check.judge(await check.query.executeTakeFirst());
}

/** Writes `last_used_at`; the condition keeps concurrent requests (and instances) to one write a minute. */
async function touchAccessToken(db: Kysely<Database>, tokenId: string): Promise<void> {
	await db
		.updateTable('access_tokens')
		.set({ last_used_at: sql<Date>`now()` })
		.where('id', '=', tokenId)
		.where(staleUseSql)
		.execute();
}

/**
 * Checks a token presented by an API client (the part after `Bearer `). Returns its owner, or null
 * for anything else: malformed, unknown, wrong secret, revoked, expired. The stored hash is
 * compared in constant time. `last_used_at` is written at most once a minute per token, so busy
 * clients do not cost a write per request; when it is written, it is written before this returns.
 * Request paths use `authenticateBearer`, which does not wait for that write.
 */
export async function verifyAccessToken(db: Kysely<Database>, bearer: string): Promise<AccessTokenOwner | null> {
	const checked = await checkAccessToken(db, bearer);
	if (!checked) return null;
	if (checked.stale) await touchAccessToken(db, checked.owner.tokenId);
	return checked.owner;
}

/** Told when recording a token's last use failed (that write runs after the request went on). */
export type TouchFailed = (error: unknown, tokenId: string) => void;

/**
 * For API endpoints: reads `Authorization: Bearer lk_…` and returns the token's owner, or throws
 * a 401 `AppError` (OpenAI-shaped by `httpErrorOf`) that never echoes what was sent. A stale
 * `last_used_at` is written in the background; `onTouchFailed` hears about a failed write.
 */
export async function authenticateBearer(
	db: Kysely<Database>,
	authorizationHeader: string | null | undefined,
	onTouchFailed: TouchFailed = () => {}
): Promise<AccessTokenOwner> {
	return acceptAccessToken(db, await checkAccessToken(db, bearerOf(authorizationHeader)), onTouchFailed);
}

/** The 401 for anything but a valid token; it never echoes what was sent. */
export function invalidAccessToken(): AppError {
	return new AppError(
		'unauthorized',
		'This access token is not valid: it may be mistyped, revoked or expired. Create a new one in Settings.',
		{ reason: 'invalid_token' }
	);
}

/** The token in `Authorization: Bearer …`, or a 401 when there is none. */
export function bearerOf(authorizationHeader: string | null | undefined): string {
	const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorizationHeader ?? '')?.[1];
	if (!bearer) {
		throw new AppError(
			'unauthorized',
			'Send a Latchkey personal access token in the Authorization header: "Authorization: Bearer lk_…". Create one in Settings.',
			{ reason: 'missing_token' }
		);
	}
	return bearer;
}

/**
 * The owner of a checked token, or the 401 for anything but a valid one (never echoing what was
 * sent). A stale `last_used_at` is written in the background: the request does not wait for it,
 * and a failure there (told to `onTouchFailed`) does not fail the request.
 */
export function acceptAccessToken(
	db: Kysely<Database>,
	checked: CheckedToken | null,
	onTouchFailed: TouchFailed
): AccessTokenOwner {
	if (!checked) throw invalidAccessToken();
	const { owner } = checked;
	if (checked.stale) {
		touchAccessToken(db, owner.tokenId).catch((error: unknown) => onTouchFailed(error, owner.tokenId));
	}
	return owner;
}
