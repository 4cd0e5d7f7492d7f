import { sql, type Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations, type Database } from '$lib/server/db';
import { createTestDatabase, DATABASE_KINDS, describeEachDatabase, type TestDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';

// The rules on the tables every chat writes hold in the schema itself, whatever the code sends:
// since 0025 most of them are domains rather than table checks (issue 20), with the same effect.

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

async function refusal(write: Promise<unknown>): Promise<string | undefined> {
	try {
		await write;
		return undefined;
	} catch (error) {
		return (error as { code?: string }).code;
	}
}

describeEachDatabase('the schema refuses impossible usage and limit rows', (database) => {
	it('refuses a usage record with an unknown provider, a negative count or cost, or an overlong code', async () => {
		const db = untyped(database().handle.db);
		const userId = await newUser(db);
		const bad = [
			{ provider: 'acme' },
			{ served_by: 'acme' },
			{ key_source: 'borrowed' },
			{ api: 'soap' },
			{ model: '' },
			{ prompt_tokens: -1 },
			{ completion_tokens: -1 },
			{ cost_micros: -1 },
			{ latency_ms: -5 },
			{ ttft_ms: -5 },
			{ cached_read_tokens: -1 },
			{ reasoning_tokens: -1 },
			{ error_code: 'x'.repeat(101) },
			{ fallback_reason: 'x'.repeat(101) },
			// The rules across two columns are table checks still.
			{ reasoning_tokens: 6 },
			{ cost_known: false }
		];
		for (const overrides of bad) {
			const code = await refusal(db.insertInto('usage_records').values(usageRow(userId, overrides)).execute());
			expect({ overrides, code }).toEqual({ overrides, code: CHECK_VIOLATION });
		}
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
		for (const overrides of [{ window_start: '2026-12-04T10:30:00Z' }, { provider: 'acme' }, { key_source: 'x' }]) {
			const code = await refusal(
				db
					.insertInto('limit_hourly')
					.values({ ...hour, ...overrides })
					.execute()
			);
			expect({ overrides, code }).toEqual({ overrides, code: CHECK_VIOLATION });
		}
		await db.insertInto('limit_hourly').values(hour).execute();
		const day = { user_id: userId, provider: 'openai', key_source: 'user', day: '2026-12-04' };
		expect(
			await refusal(
				db
					.insertInto('limit_daily_spend')
					.values({ ...day, provider: 'acme' })
					.execute()
			)
		).toBe(CHECK_VIOLATION);
		expect(
			await refusal(
				db
					.insertInto('limit_daily_spend')
					.values({ ...day, settled_micros: -1 })
					.execute()
			)
		).toBe(CHECK_VIOLATION);
		const reservation = {
			request_id: randomUUID(),
			user_id: userId,
			provider: 'openai',
			key_source: 'user',
			day: '2026-12-04',
			window_start: '2026-12-04T10:00:00Z',
			amount_micros: 100
		};
		await db.insertInto('limit_reservations').values(reservation).execute();
		const settle = (values: Record<string, unknown>) =>
			db.updateTable('limit_reservations').set(values).where('request_id', '=', reservation.request_id).execute();
		expect(await refusal(settle({ outcome: 'forgotten', settled_at: new Date() }))).toBe(CHECK_VIOLATION);
		expect(await refusal(settle({ outcome: 'settled', settled_at: new Date(), cost_micros: -1 }))).toBe(
			CHECK_VIOLATION
		);
		expect(await refusal(settle({ outcome: 'settled', settled_at: new Date(), tokens: -1 }))).toBe(CHECK_VIOLATION);
		const left = await db
			.selectFrom('limit_reservations')
			.select(['outcome', 'cost_micros'])
			.where('request_id', '=', reservation.request_id)
			.executeTakeFirstOrThrow();
		expect(left).toEqual({ outcome: null, cost_micros: null });
	});
});

const all = readMigrations();
const domains = all.findIndex((m) => m.name === '0025_checks_as_domains');

describe.each(DATABASE_KINDS)('moving the checks into domains [%s]', (kind) => {
	const skip = kind === 'postgres' && !testDatabaseUrl;
	const databases: TestDatabase[] = [];
	afterAll(async () => {
		for (const database of databases) await database.drop();
	});

	it.skipIf(skip)('keeps the usage records and limit rows written before it', async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		databases.push(database);
		const db = untyped(database.handle.db);
		await migrate(database.handle, all.slice(0, domains));
		const userId = await newUser(db);
		await db
			.insertInto('usage_records')
			.values(usageRow(userId, { cost_micros: 42 }))
			.execute();
		await sql`insert into limit_hourly (user_id, provider, key_source, window_start, requests)
			values (${userId}, 'anthropic', 'app', '2026-12-04T09:00:00Z', 3)`.execute(db);
		await migrate(database.handle, all);
		const usage = await db.selectFrom('usage_records').select(['cost_micros', 'provider']).execute();
		expect(usage).toEqual([{ cost_micros: 42, provider: 'openai' }]);
		const hours = await db.selectFrom('limit_hourly').select(['provider', 'requests']).execute();
		expect(hours).toEqual([{ provider: 'anthropic', requests: 3 }]);
	});
});
