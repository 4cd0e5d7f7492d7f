import { sql, type Compilable, type Expression, type Kysely } from 'kysely';
import {
	accessTokenCheck,
	acceptAccessToken,
	describeScope,
	invalidAccessToken,
	scopeAllows,
	type TouchFailed
} from '$lib/server/auth';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import {
	keyExpiredSql,
	routableKeysQuery,
	toRoutableKey,
	type RoutableKey,
	type RoutableKeyRow
} from '$lib/server/keys';
import { admitCall, type AdmitRequest, type AdmitRow, type LimitDefaults } from '$lib/server/limits';
import { admissionRequestOf, type ChatEstimate } from './estimate';
import { ownKeyProviders, UNUSABLE_KEY_STATUS, type RoutableModel } from './plan';

/**
 * The chat's first statement, the only one before the provider call: who asks, their keys (sealed
 * form) and fallback preferences, and the admission for their own key when the plan will start with
 * it. This module owns the statement; auth, keys and limits each lend their part of it.
 */

/** A signed-in user (the session named them) or an API client presenting an access token. */
export type Principal =
	{ kind: 'session'; userId: string } | { kind: 'token'; bearer: string; onTouchFailed: TouchFailed };

export interface RoutingFacts {
	keys: RoutableKey[];
	fallbackOff: ReadonlySet<Provider>;
}

/** The admission for the owner's own key to make inside the statement (attempt 0's). */
export interface OwnKeyAdmission {
	limits: LimitDefaults;
	model: RoutableModel;
	/** The public model id (`provider/model`) an access token's scope is checked against. */
	modelId: string;
	request: Omit<AdmitRequest, 'userId'>;
}

/** Attempt 0's admission for the owner's own key, made by the first statement when the plan starts with it. */
export function ownKeyAdmission(limits: LimitDefaults, requestId: string, estimate: ChatEstimate): OwnKeyAdmission {
	return {
		limits,
		model: estimate.model,
		modelId: estimate.model.id,
		request: admissionRequestOf(estimate, requestId, 'user', 0)
	};
}

export interface PreparedChat {
	owner: { userId: string; tokenId: string | null };
	facts: RoutingFacts;
	/** `limits_admit`'s row when the statement admitted the request for the owner's own key. */
	admitted: AdmitRow | null;
}

type FactsRow = { [K in keyof RoutableKeyRow]: RoutableKeyRow[K] | null } & { fallback_off: Provider[] | null };
/** `limits_admit`'s row as JSON: the timestamps arrive as text. */
type AdmitJson = Omit<AdmitRow, 'now' | 'hour_start'> & { now: string; hour_start: string };

/** JSON rather than an array type: `pg` and PGlite parse it the same way. */
function fallbackOffQuery(db: Kysely<Database>, userId: string | Expression<string>) {
	return db
		.selectFrom('routing_preferences')
		.select(
			sql<Provider[]>`coalesce(
				json_agg(routing_preferences.provider) filter (where not routing_preferences.allow_fallback),
				'[]'::json
			)`.as('fallback_off')
		)
		.where('routing_preferences.user_id', '=', userId);
}

function factsOfRows(rows: readonly FactsRow[]): RoutingFacts {
	return {
		keys: rows.filter((row): row is FactsRow & RoutableKeyRow => row.id !== null).map(toRoutableKey),
		fallbackOff: new Set(rows[0]?.fallback_off ?? [])
	};
}

/**
 * Runs `factsQuery` with the admission in ONE statement. The admission runs once per row of
 * `ownerQuery` (none: nothing is admitted), only when that owner holds a usable key of
 * `ownKeyProviders(model)`, in a materialized CTE that PostgreSQL runs once whatever the number of
 * fact rows.
 */
async function withOwnKeyAdmission<Row>(
	db: Kysely<Database>,
	factsQuery: Compilable<Row>,
	ownerQuery: Compilable<{ user_id: string; token_id: string | null }>,
	admission: OwnKeyAdmission
): Promise<{ rows: Row[]; admitted: AdmitRow | null }> {
	const ownerId = sql.ref<string>('owner.user_id');
	const tokenId = sql.ref<string>('owner.token_id');
	const usableOwnKey = routableKeysQuery(db, ownerId)
		.where('provider_keys.provider', 'in', ownKeyProviders(admission.model))
		// planRoute's `unusableBecause`, in SQL: not invalid, not expired (the same `keyExpiredSql`).
		.where('provider_keys.status', '<>', UNUSABLE_KEY_STATUS)
		.where(sql<boolean>`not ${keyExpiredSql}`);
	const admit = admitCall(admission.limits, { ...admission.request, userId: ownerId, tokenId });
	const { rows } = await sql<Row & { admission: AdmitJson | null }>`with admission as materialized (
			select admitted.* from (${ownerQuery}) as owner
			cross join lateral ${admit} as admitted
			where exists (${usableOwnKey})
		)
		select facts.*, (select to_jsonb(admission) from admission) as admission
		from (${factsQuery}) as facts`.execute(db);
	const json = rows[0]?.admission;
	return {
		rows,
		admitted: json ? { ...json, now: new Date(json.now), hour_start: new Date(json.hour_start) } : null
	};
}

/** The first statement of a chat. A token that is not valid is a 401 and reads no sealed key. */
export async function prepareChat(
	db: Kysely<Database>,
	principal: Principal,
	admission: OwnKeyAdmission
): Promise<PreparedChat> {
	if (principal.kind === 'session') {
		const { userId } = principal;
		const factsQuery = db
			.selectFrom(db.selectNoFrom(fallbackOffQuery(db, userId).as('fallback_off')).as('preference'))
			.leftJoin(routableKeysQuery(db, userId).as('key'), (join) => join.onTrue())
			.selectAll('key')
			.select('preference.fallback_off');
		const owner = db
			.selectFrom('users')
			.select(['users.id as user_id', sql<string | null>`null::uuid`.as('token_id')])
			.where('users.id', '=', userId);
		const { rows, admitted } = await withOwnKeyAdmission(db, factsQuery, owner, admission);
		return { owner: { userId, tokenId: null }, facts: factsOfRows(rows), admitted };
	}
	const check = accessTokenCheck(db, principal.bearer);
	if (!check) throw invalidAccessToken();
	// Keys join only the row of this very token while it is usable: a wrong secret reads none.
	const ownerId = sql.ref<string>('access_tokens.user_id');
	const factsQuery = check.query
		.leftJoinLateral(routableKeysQuery(db, ownerId).where(check.matches).as('key'), (join) => join.onTrue())
		.selectAll('key')
		.select(fallbackOffQuery(db, ownerId).as('fallback_off'));
	// A model outside the token's scope is admitted for nothing (the 403 follows below).
	const owner = check.query
		.clearSelect()
		.select(['access_tokens.user_id', 'access_tokens.id as token_id'])
		.where(check.matches)
		.where(sql<boolean>`token_scope_allows(access_tokens.model_scope, ${admission.modelId}::text)`);
	const { rows, admitted } = await withOwnKeyAdmission(db, factsQuery, owner, admission);
	const token = acceptAccessToken(db, check.judge(rows[0]), principal.onTouchFailed);
	if (!scopeAllows(token.modelScope, admission.modelId)) throw outOfScope(admission.modelId, token.modelScope);
	return { owner: { userId: token.userId, tokenId: token.tokenId }, facts: factsOfRows(rows), admitted };
}

/** A 403: the token is valid but may not use this model. */
function outOfScope(modelId: string, scope: readonly string[] | null): AppError {
	const allowed = scope ? describeScope(scope) : '';
	return new AppError(
		'forbidden',
		`This access token may not use ${modelId}: it is limited to ${allowed}. Use one of those models, or a token without this limit.`,
		{ reason: 'model_not_in_token_scope', details: { model: modelId, modelScope: scope ?? [] } }
	);
}

/**
 * Throws `error` after checking the principal: a request that is wrong in itself is still
 * answered 401 first when its token is.
 */
export async function refuseAfterPrincipal(db: Kysely<Database>, principal: Principal, error: unknown): Promise<never> {
	if (principal.kind === 'token') {
		const check = accessTokenCheck(db, principal.bearer);
		acceptAccessToken(db, check ? check.judge(await check.query.executeTakeFirst()) : null, principal.onTouchFailed);
	}
	throw error;
}
