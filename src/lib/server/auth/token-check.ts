import { timingSafeEqual } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database, Role } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { staleUseSql, touchAccessToken } from './token-last-use';
import type { ModelScope } from './token-scope';
import { sha256, usableSql } from './tokens';

const TOKEN_PATTERN = /^lk_([A-Za-z0-9]{8})_([A-Za-z0-9]{43})$/;
/** Compared against when no row matches, so a miss costs the same comparison as a wrong secret. */
const NO_MATCH_HASH = Buffer.alloc(32);

/** Who a valid token acts for. */
export interface AccessTokenOwner {
	userId: string;
	email: string;
	role: Role;
	tokenId: string;
	/** The models the token may use (null = every model). */
	modelScope: ModelScope;
}

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
	model_scope: string[] | null;
}

/** A token check to extend with more reads in one statement (the API's chat); null for a malformed token. */
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
				staleUseSql.as('stale'),
				// JSON, not text[]: `pg` and PGlite parse it the same way.
				sql<string[] | null>`to_json(access_tokens.model_scope)`.as('model_scope')
			])
			.where('access_tokens.lookup_id', '=', lookupId),
		/** Gates reads of the owner's secrets joined onto `query`: a wrong secret reads none. */
		matches: sql<boolean>`(access_tokens.token_hash = ${presented.toString('hex')} and ${usableSql})`,
		/** The verdict on the row `query` returned, by a constant-time comparison. */
		judge(row: TokenRow | undefined): CheckedToken | null {
			const stored = row ? Buffer.from(row.token_hash, 'hex') : NO_MATCH_HASH;
			const secretMatches = timingSafeEqual(presented, stored);
			if (!row || !secretMatches || !row.usable) return null;
			return {
				owner: {
					userId: row.user_id,
					email: row.email,
					role: row.role,
					tokenId: row.token_id,
					modelScope: row.model_scope
				},
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

/** The owner of a usable token, else null; waits for a due last-use write (requests use `authenticateBearer`). */
export async function verifyAccessToken(db: Kysely<Database>, bearer: string): Promise<AccessTokenOwner | null> {
	const checked = await checkAccessToken(db, bearer);
	if (!checked) return null;
	if (checked.stale) await touchAccessToken(db, checked.owner.tokenId);
	return checked.owner;
}

/** Told when recording a token's last use failed (that write runs after the request went on). */
export type TouchFailed = (error: unknown, tokenId: string) => void;

/** For API endpoints: the owner of the `Authorization: Bearer lk_…` token, or a 401. */
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

/** The owner of a checked token, or the 401; a due last-use write runs in the background, never failing the request. */
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
