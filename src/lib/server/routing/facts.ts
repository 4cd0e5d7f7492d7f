import { sql, type Compilable, type Expression, type Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { routableKeysQuery, toRoutableKey, type RoutableKey, type RoutableKeyRow } from '$lib/server/keys';
import { admitCall, type AdmitRequest, type AdmitRow, type LimitDefaults } from '$lib/server/limits';

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

/**
 * A request to admit for the user's own key in the statement that reads the keys
 * (`ownKeyAdmission` makes it): admitted only when the user has a usable key of one of
 * `providers`, which is exactly when the plan starts with the user's own key.
 */
export interface OwnKeyAdmitSpec {
	limits: LimitDefaults;
	providers: Provider[];
	request: Omit<AdmitRequest, 'userId'>;
}

/** The routing facts of a user, and the admission for their own key when one was asked and made. */
export interface FactsAndAdmission {
	facts: RoutingFacts;
	ownKeyAdmitted?: AdmitRow;
}

/** `limits_admit`'s row as JSON: the timestamps arrive as text. */
type AdmitJson = Omit<AdmitRow, 'now' | 'hour_start'> & { now: string; hour_start: string };

/**
 * Runs `factsQuery` and the admission of `spec` as ONE statement. `ownerQuery` selects the user to
 * admit as `user_id` (no row: nothing is admitted) under the caller's own conditions; the
 * admission runs once per owner row (a lateral call of `limits_admit`) and only when that owner
 * has a usable key of `spec.providers` (a key not marked invalid, as planning uses them). It sits
 * in a materialized CTE, which PostgreSQL runs once whatever the number of fact rows; its row
 * rides along as JSON.
 */
export async function withOwnKeyAdmission<Row>(
	db: Kysely<Database>,
	factsQuery: Compilable<Row>,
	ownerQuery: Compilable<{ user_id: string }>,
	spec: OwnKeyAdmitSpec
): Promise<{ rows: Row[]; ownKeyAdmitted?: AdmitRow }> {
	const ownerId = sql.ref<string>('owner.user_id');
	const usableOwnKey = routableKeysQuery(db, ownerId)
		.where('provider_keys.provider', 'in', spec.providers)
		.where('provider_keys.status', '<>', 'invalid');
	const admit = admitCall(spec.limits, { ...spec.request, userId: ownerId });
	const { rows } = await sql<Row & { admission: AdmitJson | null }>`with admission as materialized (
			select admitted.* from (${ownerQuery}) as owner
			cross join lateral ${admit} as admitted
			where exists (${usableOwnKey})
		)
		select facts.*, (select to_jsonb(admission) from admission) as admission
		from (${factsQuery}) as facts`.execute(db);
	const admitted = rows[0]?.admission;
	return {
		rows,
		...(admitted
			? { ownKeyAdmitted: { ...admitted, now: new Date(admitted.now), hour_start: new Date(admitted.hour_start) } }
			: {})
	};
}

/**
 * The routing facts of `userId`, and with `admitOwnKey` the admission for the user's own key: one
 * statement, one round trip.
 */
export async function routingFactsOf(db: Kysely<Database>, userId: string): Promise<RoutingFacts>;
export async function routingFactsOf(
	db: Kysely<Database>,
	userId: string,
	admitOwnKey: OwnKeyAdmitSpec
): Promise<FactsAndAdmission>;
export async function routingFactsOf(
	db: Kysely<Database>,
	userId: string,
	admitOwnKey?: OwnKeyAdmitSpec
): Promise<RoutingFacts | FactsAndAdmission> {
	const factsQuery = db
		.selectFrom(db.selectNoFrom(fallbackOffQuery(db, userId).as('fallback_off')).as('preference'))
		.leftJoin(routableKeysQuery(db, userId).as('key'), (join) => join.onTrue())
		.selectAll('key')
		.select('preference.fallback_off');
	if (!admitOwnKey) return routingFactsOfRows(await factsQuery.execute());
	const owner = db.selectFrom('users').select('users.id as user_id').where('users.id', '=', userId);
	const { rows, ownKeyAdmitted } = await withOwnKeyAdmission(db, factsQuery, owner, admitOwnKey);
	return { facts: routingFactsOfRows(rows), ...(ownKeyAdmitted ? { ownKeyAdmitted } : {}) };
}

/**
 * Without a matching key the left join yields one row of nulls; `id` is the key's primary key, so
 * a non-null id means every column holds the key's own (non-null where the table says so) value.
 */
function isKeyRow(row: RoutingFactsRow): row is RoutingFactsRow & RoutableKeyRow {
	return row.id !== null;
}
