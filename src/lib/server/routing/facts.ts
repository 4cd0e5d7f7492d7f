import type { Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { routableKeysQuery, toRoutableKey, type RoutableKey, type RoutableKeyRow } from '$lib/server/keys';

/** What routing needs from the database to plan a request. */
export interface RoutingFacts {
	/** The user's active keys for the providers asked about, with their sealed form. */
	keys: RoutableKey[];
	/** Whether the user allows the app key for the model's provider (on unless turned off). */
	allowFallback: boolean;
}

/**
 * One statement, one round trip: the fallback preference for `provider` (a one-row derived table,
 * so it comes back even when the user has no key) left-joined with the user's routable keys for
 * `keyProviders`.
 */
export async function routingFactsOf(
	db: Kysely<Database>,
	userId: string,
	provider: Provider,
	keyProviders: readonly Provider[]
): Promise<RoutingFacts> {
	const rows = await db
		.selectFrom(
			db
				.selectNoFrom((eb) =>
					eb.fn
						.coalesce(
							eb
								.selectFrom('routing_preferences')
								.select('allow_fallback')
								.where('user_id', '=', userId)
								.where('provider', '=', provider),
							eb.lit(true)
						)
						.as('allow_fallback')
				)
				.as('preference')
		)
		.leftJoin(routableKeysQuery(db, userId, keyProviders).as('key'), (join) => join.onTrue())
		.selectAll('key')
		.select('preference.allow_fallback')
		.execute();
	const first = rows[0];
	if (!first) throw new Error('routing facts statement returned no row');
	return { keys: rows.filter(isKeyRow).map(toRoutableKey), allowFallback: first.allow_fallback };
}

/**
 * Without a matching key the left join yields one row of nulls; `id` is the key's primary key, so
 * a non-null id means every column holds the key's own (non-null where the table says so) value.
 */
function isKeyRow<T extends { id: string | null }>(row: T): row is T & RoutableKeyRow {
	return row.id !== null;
}
