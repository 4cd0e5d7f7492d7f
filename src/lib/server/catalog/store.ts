import { sql, type Kysely } from 'kysely';
import type { ProviderId } from '$lib/providers';
import type { Database } from '$lib/server/db';
import type { ListedModel } from '$lib/server/providers';
import type { AppModelRule } from './build';

// The lists and rules as stored (migration 0015). Reads happen at start-up and when another
// instance changed something; never on the chat path.

export interface StoredList {
	keyId: string | null;
	provider: ProviderId;
	models: ListedModel[];
	fetchedAt: Date;
}

/** Stored lists were written by this code; an entry without an id is dropped all the same. */
function storedModels(value: unknown): ListedModel[] {
	return Array.isArray(value) ? (value as ListedModel[]).filter((m) => typeof m?.id === 'string') : [];
}

/** Every stored list, or only those stored after `since` (what another instance read lately). */
export async function loadStoredLists(db: Kysely<Database>, since?: Date): Promise<StoredList[]> {
	let query = db.selectFrom('model_lists').select(['key_id', 'provider', 'models', 'fetched_at']);
	if (since) query = query.where('fetched_at', '>', since);
	const rows = await query.execute();
	return rows.map((row) => ({
		keyId: row.key_id,
		provider: row.provider,
		models: storedModels(row.models),
		fetchedAt: row.fetched_at
	}));
}

/** When the admin's rules or price overrides last changed: instances compare it to reload them. */
export async function rulesMark(db: Kysely<Database>): Promise<string> {
	const { rows } = await sql<{ mark: string }>`select
		(select coalesce(max(updated_at)::text, '') || ':' || count(*)::text from app_model_rules) || '|' ||
		(select coalesce(max(updated_at)::text, '') || ':' || count(*)::text from price_overrides) as mark`.execute(db);
	return rows[0]?.mark ?? '';
}

/** When the app's OpenRouter list was last stored, or null. */
export async function appListFetchedAt(db: Kysely<Database>): Promise<Date | null> {
	const row = await db
		.selectFrom('model_lists')
		.select('fetched_at')
		.where('key_id', 'is', null)
		.where('provider', '=', 'openrouter')
		.executeTakeFirst();
	return row?.fetched_at ?? null;
}

export async function saveKeyModelList(
	db: Kysely<Database>,
	keyId: string,
	provider: ProviderId,
	models: readonly ListedModel[]
): Promise<void> {
	await db
		.insertInto('model_lists')
		.values({ key_id: keyId, provider, models: JSON.stringify(models) })
		.onConflict((oc) =>
			oc
				.column('key_id')
				.where('key_id', 'is not', null)
				.doUpdateSet({ models: JSON.stringify(models), fetched_at: sql`now()` })
				// An unchanged list is not rewritten: other instances merge only what changed.
				.where(sql<boolean>`model_lists.models is distinct from excluded.models`)
		)
		.execute();
}

export async function saveAppModelList(db: Kysely<Database>, models: readonly ListedModel[]): Promise<void> {
	await db
		.insertInto('model_lists')
		.values({ key_id: null, provider: 'openrouter', models: JSON.stringify(models) })
		.onConflict((oc) =>
			oc
				.column('provider')
				.where('key_id', 'is', null)
				.doUpdateSet({ models: JSON.stringify(models), fetched_at: sql`now()` })
		)
		.execute();
}

export async function loadAppModelRules(db: Kysely<Database>): Promise<AppModelRule[]> {
	return db.selectFrom('app_model_rules').select(['effect', 'pattern']).orderBy('position').execute();
}

/** Replaces every rule at once, in order; the caller runs it in a transaction. */
export async function replaceAppModelRules(
	trx: Kysely<Database>,
	rules: readonly AppModelRule[],
	actorUserId: string | null
): Promise<void> {
	await trx.deleteFrom('app_model_rules').execute();
	if (rules.length > 0) {
		await trx
			.insertInto('app_model_rules')
			.values(
				rules.map((rule, position) => ({
					position,
					effect: rule.effect,
					pattern: rule.pattern,
					updated_by: actorUserId
				}))
			)
			.execute();
	}
}
