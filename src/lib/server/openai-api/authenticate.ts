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
import {
	fallbackOffQuery,
	routingFactsOfRows,
	withOwnKeyAdmission,
	type FactsAndAdmission,
	type OwnKeyAdmitSpec
} from '$lib/server/routing';

export interface AuthenticatedChat extends FactsAndAdmission {
	owner: AccessTokenOwner;
}
/**
 * The access token check and the owner's routing facts (keys with their sealed form, fallback
 * preferences) in one statement, and, with `admitOwnKey`, the admission too: a chat on the API
 * then makes ONE database round trip before the provider call. Without `admitOwnKey` it needs
 * nothing from the body (the error paths use it to answer 401 before complaining about the body).
 *
 * The keys are joined only on the row of the presented token while it is usable (`matches`: the
 * stored hash equals the presented token's), so a wrong, revoked or expired token reads no sealed
 * key; the verdict is still the constant-time comparison of `accessTokenCheck`. The admission runs
 * under the same condition, and only when the owner has a usable key of `admitOwnKey.providers`
 * (exactly when routing's plan starts with the user's own key): in a materialized CTE, so it runs
 * once whatever the number of key rows.
 */
export async function authenticateChat(
	db: Kysely<Database>,
	bearer: string,
	onTouchFailed: TouchFailed,
	admitOwnKey?: OwnKeyAdmitSpec
): Promise<AuthenticatedChat> {
	const check = accessTokenCheck(db, bearer);
	// A token of the wrong shape: the 401, without a query.
	if (!check) throw invalidAccessToken();
	const ownerId = sql.ref<string>('access_tokens.user_id');
	const factsQuery = check.query
		.leftJoinLateral(routableKeysQuery(db, ownerId).where(check.matches).as('key'), (join) => join.onTrue())
		.selectAll('key')
		.select(fallbackOffQuery(db, ownerId).as('fallback_off'));
	if (!admitOwnKey) {
		const rows = await factsQuery.execute();
		return { owner: acceptAccessToken(db, check.judge(rows[0]), onTouchFailed), facts: routingFactsOfRows(rows) };
	}
	// The owner of this very token while it is usable: a wrong, revoked or expired one admits nothing.
	const owner = check.query.clearSelect().select('access_tokens.user_id').where(check.matches);
	const { rows, ownKeyAdmitted } = await withOwnKeyAdmission(db, factsQuery, owner, admitOwnKey);
	return {
		owner: acceptAccessToken(db, check.judge(rows[0]), onTouchFailed),
		facts: routingFactsOfRows(rows),
		...(ownKeyAdmitted ? { ownKeyAdmitted } : {})
	};
}
