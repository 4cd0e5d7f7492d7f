import { sql, type Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, readDefinitions, readMigrations, type Database } from '$lib/server/db';
import { admit, reclaimExpiredReservations, release, settle } from '$lib/server/limits';
import { createTestDatabase, DATABASE_KINDS, describeEachDatabase, type TestDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';

// The rules on the tables every chat writes hold in the schema itself, whatever the code sends:
// since 0025 and 0026 the single-column ones are domains rather than table checks (issue 20), with
// the same effect.

const CHECK_VIOLATION = '23514';

/** The tables without their TypeScript types, so rows the types would forbid can be sent. */
type Untyped = Record<string, Record<string, unknown>>;
const untyped = (db: Kysely<Database>) => db as unknown as Kysely<Untyped>;

async function newUser(db: Kysely<Untyped>): Promise<string> {
	const row = await db
		.insertInto('users')
		.values({ email: `checks-${randomUUID().slice(0, 8)}@example.com`, password_hash: 'not used' })
		.returning('id')
		.executeTakeFirstOrThrow();
	return String(row.id);
}

function usageRow(userId: string, overrides: Record<string, unknown> = {}) {
	return {
		request_id: randomUUID(),
		user_id: userId,
		provider: 'openai',
		served_by: 'openai',
		model: 'openai/gpt-4o-mini',
		key_source: 'user',
		api: 'openai',
		success: true,
		prompt_tokens: 10,
		completion_tokens: 5,
		cost_micros: 3,
		cost_known: true,
		...overrides
	};
}

/** The rule a write broke: the check violation's constraint, or undefined when it was stored. */
async function refusal(write: Promise<unknown>): Promise<string | undefined> {
	try {
		await write;
		return undefined;
	} catch (error) {
		const { code, constraint } = error as { code?: string; constraint?: string };
		return code === CHECK_VIOLATION ? constraint : `not a check violation: ${String(code)}`;
	}
}

type Refusals = Array<[overrides: Record<string, unknown>, rule: string]>;

/** Inserts `base` changed by each case's fields: each insert must be refused by the case's rule. */
async function expectInsertsRefused(db: Kysely<Untyped>, table: string, base: object, cases: Refusals) {
	for (const [overrides, rule] of cases) {
		const broke = await refusal(
			db
				.insertInto(table)
				.values({ ...base, ...overrides })
				.execute()
		);
		expect({ overrides, broke }).toEqual({ overrides, broke: rule });
	}
}

describeEachDatabase('the schema refuses impossible usage and limit rows', (database) => {
	it('refuses a usage record with an unknown provider, a negative count or cost, or an overlong code', async () => {
		const db = untyped(database().handle.db);
		const userId = await newUser(db);
		await expectInsertsRefused(db, 'usage_records', usageRow(userId), [
			[{ provider: 'acme' }, 'provider_name_known'],
			[{ served_by: 'acme' }, 'provider_name_known'],
			[{ key_source: 'borrowed' }, 'key_source_name_known'],
			[{ api: 'soap' }, 'api_name_known'],
			[{ model: '' }, 'model_id_text_length'],
			[{ model: 'm'.repeat(201) }, 'model_id_text_length'],
			[{ prompt_tokens: -1 }, 'nonnegative_integer_check'],
			[{ completion_tokens: -1 }, 'nonnegative_integer_check'],
			[{ cost_micros: -1 }, 'nonnegative_bigint_check'],
			[{ latency_ms: -5 }, 'nonnegative_integer_check'],
			[{ ttft_ms: -5 }, 'nonnegative_integer_check'],
			[{ cached_read_tokens: -1 }, 'nonnegative_bigint_check'],
			[{ cache_write_tokens: -1 }, 'nonnegative_bigint_check'],
			[{ reasoning_tokens: -1 }, 'nonnegative_bigint_check'],
			[{ error_code: 'x'.repeat(101) }, 'short_code_length'],
			[{ fallback_reason: 'x'.repeat(101) }, 'short_code_length'],
			// The rules across two columns are table checks still.
			[{ reasoning_tokens: 6 }, 'usage_records_reasoning_within_completion'],
			[{ cached_read_tokens: 8, cache_write_tokens: 8 }, 'usage_records_cache_within_prompt'],
			[{ cost_known: false }, 'usage_records_unknown_cost_is_zero']
		]);
		await db
			.insertInto('usage_records')
			.values(usageRow(userId, { ttft_ms: null, error_code: null }))
			.execute();
		const rows = await db.selectFrom('usage_records').select('cost_micros').where('user_id', '=', userId).execute();
		expect(rows).toEqual([{ cost_micros: 3 }]);
	});

	it('refuses limit rows off the hour, of an unknown provider or key source, or with an unknown outcome', async () => {
		const db = untyped(database().handle.db);
		const userId = await newUser(db);
		const hour = { user_id: userId, provider: 'openai', key_source: 'user', window_start: '2026-12-04T10:00:00Z' };
		await expectInsertsRefused(db, 'limit_hourly', hour, [
			[{ window_start: '2026-12-04T10:30:00Z' }, 'utc_hour_whole'],
			[{ provider: 'acme' }, 'provider_name_known'],
			[{ key_source: 'x' }, 'key_source_name_known'],
			[{ requests: -1 }, 'nonnegative_integer_check'],
			[{ tokens: -1 }, 'nonnegative_bigint_check'],
			[{ reserved_tokens: -1 }, 'nonnegative_bigint_check']
		]);
		await db.insertInto('limit_hourly').values(hour).execute();
		const day = { user_id: userId, provider: 'openai', key_source: 'user', day: '2026-12-04' };
		await expectInsertsRefused(db, 'limit_daily_spend', day, [
			[{ provider: 'acme' }, 'provider_name_known'],
			[{ key_source: 'x' }, 'key_source_name_known'],
			[{ settled_micros: -1 }, 'nonnegative_bigint_check'],
			[{ reserved_micros: -1 }, 'nonnegative_bigint_check']
		]);
		const reservation = {
			request_id: randomUUID(),
			user_id: userId,
			provider: 'openai',
			key_source: 'user',
			day: '2026-12-04',
			window_start: '2026-12-04T10:00:00Z',
			amount_micros: 100
		};
		await expectInsertsRefused(db, 'limit_reservations', reservation, [
			[{ request_id: '' }, 'request_id_text_length'],
			[{ request_id: 'r'.repeat(201) }, 'request_id_text_length'],
			[{ provider: 'acme' }, 'provider_name_known'],
			[{ key_source: 'x' }, 'key_source_name_known'],
			[{ amount_micros: -1 }, 'nonnegative_bigint_check'],
			[{ reserved_tokens: -1 }, 'nonnegative_bigint_check']
		]);
		await db.insertInto('limit_reservations').values(reservation).execute();
		const settle = (values: Record<string, unknown>) =>
			db.updateTable('limit_reservations').set(values).where('request_id', '=', reservation.request_id).execute();
		const settled = { outcome: 'settled', settled_at: new Date() };
		expect(await refusal(settle({ ...settled, outcome: 'forgotten' }))).toBe('reservation_outcome_known');
		expect(await refusal(settle({ ...settled, cost_micros: -1 }))).toBe('nonnegative_bigint_check');
		expect(await refusal(settle({ ...settled, tokens: -1 }))).toBe('nonnegative_bigint_check');
		expect(await refusal(settle({ outcome: 'settled' }))).toBe('limit_reservations_outcome_consistent');
		const left = await db
			.selectFrom('limit_reservations')
			.select(['outcome', 'cost_micros'])
			.where('request_id', '=', reservation.request_id)
			.executeTakeFirstOrThrow();
		expect(left).toEqual({ outcome: null, cost_micros: null });
	});

	it('gives each moved column its domain', async () => {
		const { rows } = await sql<{ table_name: string; column_name: string; domain_name: string | null }>`
			select table_name, column_name, domain_name from information_schema.columns
			where table_name in ('usage_records', 'limit_hourly', 'limit_daily_spend', 'limit_reservations')
				and domain_name is not null
			order by table_name, column_name`.execute(database().handle.db);
		const domains = Object.fromEntries(rows.map((r) => [`${r.table_name}.${r.column_name}`, r.domain_name]));
		expect(domains).toEqual({
			'limit_daily_spend.key_source': 'key_source_name',
			'limit_daily_spend.provider': 'provider_name',
			'limit_daily_spend.reserved_micros': 'nonnegative_bigint',
			'limit_daily_spend.settled_micros': 'nonnegative_bigint',
			'limit_hourly.key_source': 'key_source_name',
			'limit_hourly.provider': 'provider_name',
			'limit_hourly.requests': 'nonnegative_integer',
			'limit_hourly.reserved_tokens': 'nonnegative_bigint',
			'limit_hourly.tokens': 'nonnegative_bigint',
			'limit_hourly.window_start': 'utc_hour',
			'limit_reservations.amount_micros': 'nonnegative_bigint',
			'limit_reservations.cost_micros': 'nonnegative_bigint',
			'limit_reservations.key_source': 'key_source_name',
			'limit_reservations.outcome': 'reservation_outcome',
			'limit_reservations.provider': 'provider_name',
			'limit_reservations.request_id': 'request_id_text',
			'limit_reservations.reserved_tokens': 'nonnegative_bigint',
			'limit_reservations.tokens': 'nonnegative_bigint',
			'usage_records.api': 'api_name',
			'usage_records.cache_write_tokens': 'nonnegative_bigint',
			'usage_records.cached_read_tokens': 'nonnegative_bigint',
			'usage_records.completion_tokens': 'nonnegative_integer',
			'usage_records.cost_micros': 'nonnegative_bigint',
			'usage_records.error_code': 'short_code',
			'usage_records.fallback_reason': 'short_code',
			'usage_records.key_source': 'key_source_name',
			'usage_records.latency_ms': 'nonnegative_integer',
			'usage_records.model': 'model_id_text',
			'usage_records.prompt_tokens': 'nonnegative_integer',
			'usage_records.provider': 'provider_name',
			'usage_records.reasoning_tokens': 'nonnegative_bigint',
			'usage_records.served_by': 'provider_name',
			'usage_records.ttft_ms': 'nonnegative_integer'
		});
	});

	it('declares the admission row once: both admission functions return limits_admission', async () => {
		const { rows } = await sql<{ name: string; returns: string; many: boolean }>`
			select p.proname as name, t.typname as returns, p.proretset as many
			from pg_proc p join pg_type t on t.oid = p.prorettype
			where p.proname in ('limits_admit', 'limits_admit_all_steps')
			order by p.proname`.execute(database().handle.db);
		expect(rows).toEqual([
			{ name: 'limits_admit', returns: 'limits_admission', many: true },
			{ name: 'limits_admit_all_steps', returns: 'limits_admission', many: true }
		]);
	});
});

const all = readMigrations();
const domains = all.findIndex((m) => m.name === '0025_checks_as_domains');
if (domains < 0) throw new Error('migration 0025_checks_as_domains not found');

const limits = {
	requestsPerHour: 100,
	tokensPerHour: 100_000,
	dailyCapMicros: 1_000_000,
	appDailyCapMicros: 1_000_000,
	appDailyBudgetMicros: null
};

describe.each(DATABASE_KINDS)('moving the checks into domains [%s]', (kind) => {
	const skip = kind === 'postgres' && !testDatabaseUrl;
	const databases: TestDatabase[] = [];
	afterAll(async () => {
		for (const database of databases) await database.drop();
	});

	it.skipIf(skip)('keeps the rows written before it; settles and reclaims requests admitted before it', async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		databases.push(database);
		const db = untyped(database.handle.db);
		// The schema and functions as 0024 left them (no function definitions from migrations/functions).
		await migrate(database.handle, { migrations: all.slice(0, domains), definitions: [] });
		const userId = await newUser(db);
		await db
			.insertInto('usage_records')
			.values(usageRow(userId, { cost_micros: 42 }))
			.execute();
		await sql`insert into limit_hourly (user_id, provider, key_source, window_start, requests)
			values (${userId}, 'anthropic', 'app', '2026-12-04T09:00:00Z', 3)`.execute(db);
		// One instant for every admission, so all land in the same hour and day however long the upgrade takes.
		const request = { userId, provider: 'openai', keySource: 'user', reserveTokens: 500, now: new Date() } as const;
		const admitted = await admit(database.handle.db, limits, {
			...request,
			reserveMicros: 1_000,
			requestId: randomUUID()
		});
		const stale = await admit(database.handle.db, limits, { ...request, reserveMicros: 200, requestId: randomUUID() });

		const upgrade = await migrate(database.handle);
		expect(upgrade.applied).toEqual(all.slice(domains).map((m) => m.name));
		expect(upgrade.definitions).toEqual(readDefinitions().map((d) => d.name));

		const usage = await db.selectFrom('usage_records').select(['cost_micros', 'provider']).execute();
		expect(usage).toEqual([{ cost_micros: 42, provider: 'openai' }]);
		expect(await settle(database.handle.db, admitted, { costMicros: 800, totalTokens: 120 })).toMatchObject({
			settled: true
		});
		const reclaimed = await reclaimExpiredReservations(database.handle.db, { olderThanSeconds: 0 });
		expect(reclaimed).toMatchObject([{ requestId: stale.requestId, amountMicros: 200, reservedTokens: 500 }]);
		const next = await admit(database.handle.db, limits, { ...request, reserveMicros: 300, requestId: randomUUID() });
		await release(database.handle.db, next);
		// With an app budget, admission takes every step (limits_admit_all_steps).
		const onAppKey = await admit(
			database.handle.db,
			{ ...limits, appDailyBudgetMicros: 5_000 },
			{ ...request, keySource: 'app', reserveMicros: 400, requestId: randomUUID() }
		);
		expect(onAppKey.appBudgetMicros).toBe(5_000);
		await settle(database.handle.db, onAppKey, { costMicros: 100, totalTokens: 10 });
		const hours = await db
			.selectFrom('limit_hourly')
			.select(['provider', 'key_source', 'requests', 'tokens', 'reserved_tokens'])
			.orderBy(['provider', 'key_source'])
			.execute();
		expect(hours).toEqual([
			{ provider: 'anthropic', key_source: 'app', requests: 3, tokens: 0, reserved_tokens: 0 },
			{ provider: 'openai', key_source: 'app', requests: 1, tokens: 10, reserved_tokens: 0 },
			{ provider: 'openai', key_source: 'user', requests: 3, tokens: 120, reserved_tokens: 0 }
		]);
		const days = await db
			.selectFrom('limit_daily_spend')
			.select(['key_source', 'settled_micros', 'reserved_micros'])
			.orderBy('key_source')
			.execute();
		expect(days).toEqual([
			{ key_source: 'app', settled_micros: 100, reserved_micros: 0 },
			{ key_source: 'user', settled_micros: 800, reserved_micros: 0 }
		]);
		const app = await db.selectFrom('app_daily_spend').select(['settled_micros', 'reserved_micros']).execute();
		expect(app).toEqual([{ settled_micros: 100, reserved_micros: 0 }]);
	});
});
