import { sql, type Kysely } from 'kysely';
import {
	accessTokenCheck,
	acceptAccessToken,
	invalidAccessToken,
	type AccessTokenOwner,
	type TouchFailed
} from '$lib/server/auth';
import type { Database } from '$lib/server/db';
import { routableKeysQuery } from '$lib/server/keys';
import { fallbackOffQuery, routingFactsOfRows, type RoutingFacts } from '$lib/server/routing';

/**
 * The access token check and the owner's routing facts (keys with their sealed form, fallback
 * preferences) in one statement: a chat on the API then makes two database round trips before
 * the provider call (this one and the admission) instead of three. It needs nothing from the
 * body, so it runs while the body is read.
 *
 * The keys are joined only on the row of the presented token while it is usable (`matches`: the
 * stored hash equals the presented token's), so a wrong, revoked or expired token reads no sealed
 * key; the verdict is still the constant-time comparison of `accessTokenCheck`.
 */
export async function authenticateChat(
	db: Kysely<Database>,
	bearer: string,
	onTouchFailed: TouchFailed
): Promise<{ owner: AccessTokenOwner; facts: RoutingFacts }> {
	const check = accessTokenCheck(db, bearer);
	// A token of the wrong shape: the 401, without a query.
	if (!check) throw invalidAccessToken();
	const ownerId = sql.ref<string>('access_tokens.user_id');
	const rows = await check.query
		.leftJoinLateral(routableKeysQuery(db, ownerId).where(check.matches).as('key'), (join) => join.onTrue())
		.selectAll('key')
		.select(fallbackOffQuery(db, ownerId).as('fallback_off'))
		.execute();
	return { owner: acceptAccessToken(db, check.judge(rows[0]), onTouchFailed), facts: routingFactsOfRows(rows) };
}
