import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import {
	admit,
	appBudgetToday,
	LimitRefusal,
	reclaimExpiredReservations,
	release,
	settle,
	type Admission,
	type KeySource,
	type LimitDefaults
} from '$lib/server/limits';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';

/** APP_DAILY_BUDGET_USD: one budget per UTC day for the app's key, across all users (issue 17). */
describeEachDatabase("the app key's daily budget across all users", (database) => {
	let services: Services;
	let db: Kysely<Database>;
	let limits: LimitDefaults;
	let admin: string;
	// A far-off day per test, so each starts with an empty app row.
	let dayCounter = 0;
	const nextDay = () => new Date(Date.UTC(2031, 0, 1 + dayCounter++, 12));

	async function createUser(role: 'user' | 'admin' = 'user'): Promise<string> {
		const row = await db
			.insertInto('users')
			.values({ email: `budget-${randomUUID().slice(0, 12)}@example.com`, password_hash: 'not used', role })
			.returning('id')
			.executeTakeFirstOrThrow();
		return row.id;
	}

	beforeAll(async () => {
		services = await testServices(database().handle);
		db = services.db;
		// Per-user caps far above the budget: only the budget can refuse.
		limits = { ...services.config.limitDefaults, appDailyCapMicros: 1_000_000_000, appDailyBudgetMicros: 10_000 };
		admin = await createUser('admin');
	});

	const request = (userId: string, now: Date, keySource: KeySource = 'app', reserveMicros = 1_000) => ({
		userId,
		provider: 'openai' as const,
		keySource,
		reserveMicros,
		reserveTokens: 10,
		requestId: randomUUID(),
		now
	});

	const appRow = (day: Date) =>
		db
			.selectFrom('app_daily_spend')
			.select(['settled_micros', 'reserved_micros'])
			.where('day', '=', sql<Date>`${day.toISOString().slice(0, 10)}::date`)
			.executeTakeFirst();

	it('admits app-key requests of many users only while their worst cases fit the one budget, even all at once', async () => {
		const now = nextDay();
		const users = await Promise.all(Array.from({ length: 40 }, () => createUser()));
		const results = await Promise.allSettled(users.map((u) => admit(db, limits, request(u, now))));
		const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
		const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
		// $0.01 budget, $0.001 each: exactly ten, whatever the interleaving.
		expect(admitted).toHaveLength(10);
		expect(refused.every((e) => e instanceof LimitRefusal && e.reason === 'app_budget')).toBe(true);
		expect(await appRow(now)).toEqual({ settled_micros: 0, reserved_micros: 10_000 });
		// Refused requests gave back what their earlier steps took: their own spend rows hold nothing.
		const held = await db
			.selectFrom('limit_daily_spend')
			.select((eb) => eb.fn.sum<number>('reserved_micros').as('sum'))
			.where('key_source', '=', 'app')
			.where('day', '=', sql<Date>`${now.toISOString().slice(0, 10)}::date`)
			.executeTakeFirstOrThrow();
		expect(Number(held.sum)).toBe(10_000);
		await Promise.all(admitted.map((a) => release(db, a)));
		expect(await appRow(now)).toEqual({ settled_micros: 0, reserved_micros: 0 });
	});

	it('refuses with a 402 that says why once the day is spent, tells every admin at 80 % and 100 %, and spares own keys', async () => {
		const now = nextDay();
		const user = await createUser();
		const settleOne = async (cost: number) => {
			const admission = await admit(db, limits, request(user, now));
			const { crossed } = await settle(db, admission, { costMicros: cost, totalTokens: 10 });
			return crossed;
		};
		expect(await settleOne(7_000)).toEqual([]);
		const eighty = await settleOne(1_000);
		expect(eighty.map((n) => [n.userId, n.kind, n.windowKey])).toContainEqual([
			admin,
			'app_budget_80',
			`app_budget:${now.toISOString().slice(0, 10)}`
		]);
		const hundred = await settleOne(2_000);
		expect(hundred.map((n) => n.kind)).toContain('app_budget_100');
		expect(hundred.every((n) => n.kind === 'app_budget_100')).toBe(true);
		expect(hundred.find((n) => n.userId === admin)?.message).toMatch(/spent today's budget \(\$0\.01\)/);

		const refusal = await appErrorFrom(admit(db, limits, request(user, now)));
		expect(refusal).toMatchObject({ status: 402, code: 'spend_cap_reached', reason: 'app_budget' });
		expect(refusal.message).toMatch(/The app's key has used up today's budget, shared by all users/);
		expect(refusal.message).toMatch(/Add your own OpenAI key/);
		// The user's own key does not draw on the app's budget.
		const own = await admit(db, limits, request(user, now, 'user'));
		expect(own.appBudgetMicros).toBeNull();
		await release(db, own);
		expect(await appRow(now)).toEqual({ settled_micros: 10_000, reserved_micros: 0 });
	});

	it('gives a dead request its budget back through the reclaimer', async () => {
		const now = nextDay();
		const user = await createUser();
		const crashed = await admit(db, limits, request(user, now, 'app', 4_000));
		expect(await appRow(now)).toEqual({ settled_micros: 0, reserved_micros: 4_000 });
		const reclaimed = await reclaimExpiredReservations(db, {
			olderThanSeconds: 60,
			now: new Date(now.getTime() + 120_000)
		});
		expect(reclaimed.map((r) => r.reservationId)).toContain(crashed.reservationId);
		expect(await appRow(now)).toEqual({ settled_micros: 0, reserved_micros: 0 });
		// A late settle still records its real cost, and gives nothing back twice.
		await settle(db, crashed, { costMicros: 1_500, totalTokens: 10 });
		expect(await appRow(now)).toEqual({ settled_micros: 1_500, reserved_micros: 0 });
	});

	it('counts nothing when no budget is set, and a budget set mid-day never subtracts what was not added', async () => {
		const now = nextDay();
		const user = await createUser();
		const unbudgeted = { ...limits, appDailyBudgetMicros: null };
		const before: Admission = await admit(db, unbudgeted, request(user, now));
		expect(before.appBudgetMicros).toBeNull();
		expect(await appRow(now)).toBeUndefined();
		// The operator sets the budget while that request runs; it settles afterwards.
		const after = await admit(db, limits, request(user, now));
		await settle(db, before, { costMicros: 900, totalTokens: 10 });
		await settle(db, after, { costMicros: 800, totalTokens: 10 });
		expect(await appRow(now)).toEqual({ settled_micros: 800, reserved_micros: 0 });
	});

	it("reports today's spend against the budget for the admin overview", async () => {
		const today = await appBudgetToday(db, 10_000);
		expect(today).toMatchObject({ budgetMicros: 10_000, settledMicros: expect.any(Number) });
		expect(today.resetsAt.getUTCHours()).toBe(0);
		expect(today.resetsAt.getTime()).toBeGreaterThan(Date.now());
	});
});
