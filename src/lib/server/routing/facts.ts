import { sql, type Expression, type Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { routableKeysQuery, toRoutableKey, type RoutableKey, type RoutableKeyRow } from '$lib/server/keys';

/**
 * What routing needs from the database to plan any request of a user: the user's active keys
 * (at most one per provider, with their sealed form) and the providers for which the user turned
 * the app-key fallback off (it is on unless turned off). Fetched in one statement, either on its
 * own (`routingFactsOf`) or inside another one (the API's access token check).
 */
export interface RoutingFacts {
	keys: RoutableKey[];
	fallbackOff: ReadonlySet<Provider>;
}

/**
 * A row of a statement that left-joins `routableKeysQuery` (aliased `key`) and selects
 * `fallbackOffQuery` as `fallback_off`: one row per key, or one row of nulls without keys.
 */
export type RoutingFactsRow = { [K in keyof RoutableKeyRow]: RoutableKeyRow[K] | null } & {
	fallback_off: Provider[] | null;
};

const fallbackOffSql = sql<Provider[]>`coalesce(
	json_agg(routing_preferences.provider) filter (where not routing_preferences.allow_fallback),
	'[]'::json
)`;

/**
 * The providers whose fallback the user turned off, as one JSON array (`[]` when none), so the
 * preferences ride along with the key rows without multiplying them. JSON rather than an array
 * type: `pg` and PGlite both parse it the same way.
 */
export function fallbackOffQuery(db: Kysely<Database>, userId: string | Expression<string>) {
	return db
		.selectFrom('routing_preferences')
		.select(fallbackOffSql.as('fallback_off'))
		.where('routing_preferences.user_id', '=', userId);
}

/** The routing facts out of such rows (all about one user). */
export function routingFactsOfRows(rows: readonly RoutingFactsRow[]): RoutingFacts {
	return {
		keys: rows.filter(isKeyRow).map(toRoutableKey),
		fallbackOff: new Set(rows[0]?.fallback_off ?? [])
	};
}

/** The routing facts of `userId`: one statement, one round trip. */
export async function routingFactsOf(db: Kysely<Database>, userId: string): Promise<RoutingFacts> {
	const rows = await db
		.selectFrom(db.selectNoFrom(fallbackOffQuery(db, userId).as('fallback_off')).as('preference'))
		.leftJoin(routableKeysQuery(db, userId).as('key'), (join) => join.onTrue())
		.selectAll('key')
		.select('preference.fallback_off')
		.execute();
	return routingFactsOfRows(rows);
}

/**
 * Without a matching key the left join yields one row of nulls; `id` is the key's primary key, so
 * a non-null id means every column holds the key's own (non-null where the table says so) value.
 */
function isKeyRow(row: RoutingFactsRow): row is RoutingFactsRow & RoutableKeyRow {
	return row.id !== null;
}
