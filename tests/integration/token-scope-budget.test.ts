import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { listAccessTokens } from '$lib/server/auth';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { handleChatCompletions, handleListModels } from '$lib/server/openai-api';
import {
	admit,
	reclaimExpiredReservations,
	release,
	settle,
	type Admission,
	type AdmitRequest
} from '$lib/server/limits';
import { chatDeps, type Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { appErrorFrom } from '../helpers/errors';
import { testServices } from '../helpers/services';
import { recordSecret } from '../helpers/test-output';
import { createAccessToken } from '../helpers/tokens';
import { callerFor, createUser, fakeEnv, testKey, trpcFailure, type TestUser } from './keys-fixtures';

/** Issue 21: tokens limited to some models, with their own daily and monthly budgets and spend. */
describeEachDatabase('scoped access tokens', (database) => {
	let fake: FakeProviders;
	let services: Services;
	let db: Kysely<Database>;
	let ada: TestUser;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, fakeEnv(fake));
		db = services.db;
		ada = await createUser(db, 'scoped');
		for (const provider of ['openai', 'anthropic'] as const) {
			const key = testKey(provider, 'scope');
			fake.registerKey(provider, key, 'ok');
			await callerFor(services, ada).keys.upsert({ provider, apiKey: key });
		}
	});
	afterAll(async () => {
		await fake.close();
	});

	const complete = (token: string, model: string) =>
		handleChatCompletions(
			{ deps: chatDeps(services), requestId: randomUUID() },
			new Request('http://latchkey.test/api/v1/chat/completions', {
				method: 'POST',
				headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
				body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello?' }], max_tokens: 50 })
			})
		);
	const listModels = async (token: string) => {
		const response = await handleListModels(
			{ deps: chatDeps(services), requestId: randomUUID() },
			new Request('http://latchkey.test/api/v1/models', { headers: { authorization: `Bearer ${token}` } })
		);
		expect(response.status).toBe(200);
		return ((await response.json()) as { data: { id: string }[] }).data.map((m) => m.id);
	};
	const recordsOf = (tokenId: string) =>
		db.selectFrom('usage_records').select(['token_id', 'cost_micros']).where('token_id', '=', tokenId).execute();
	const tokenCount = async () => (await listAccessTokens(db, ada.id)).length;

	it('refuses a model outside the scope with a 403 naming the scope, admitting and recording nothing', async () => {
		const { token, id } = await createAccessToken(db, ada.id, { name: 'openai only', modelScope: ['openai/*'] });
		const reservationsBefore = await db.selectFrom('limit_reservations').select('id').execute();

		const refused = await complete(token, 'anthropic/claude-sonnet-4');
		expect(refused.status).toBe(403);
		const body = (await refused.json()) as { error: { type: string; code: string; message: string } };
		expect(body.error.type).toBe('permission_error');
		expect(body.error.code).toBe('model_not_in_token_scope');
		expect(body.error.message).toContain('may not use anthropic/claude-sonnet-4');
		expect(body.error.message).toContain('openai/*');
		expect(await db.selectFrom('limit_reservations').select('id').execute()).toHaveLength(reservationsBefore.length);
		expect(await recordsOf(id)).toEqual([]);

		const allowed = await complete(token, 'openai/gpt-4o-mini');
		expect(allowed.status).toBe(200);
	});

	it('matches exact ids and prefixes ending in *', async () => {
		const { token } = await createAccessToken(db, ada.id, {
			name: 'sonnet and mini',
			modelScope: ['anthropic/claude-sonnet-4*', 'openai/gpt-4o-mini']
		});
		expect((await complete(token, 'anthropic/claude-sonnet-4')).status).toBe(200);
		expect((await complete(token, 'openai/gpt-4o-mini')).status).toBe(200);
		expect((await complete(token, 'openai/gpt-4o')).status).toBe(403);
	});

	it("lists only the token's models on /api/v1/models", async () => {
		const open = await createAccessToken(db, ada.id, { name: 'open' });
		const scoped = await createAccessToken(db, ada.id, {
			name: 'scoped list',
			modelScope: ['openai/*', 'anthropic/claude-sonnet-4*']
		});
		const all = await listModels(open.token);
		const some = await listModels(scoped.token);
		expect(all.some((id) => id.startsWith('google/'))).toBe(true);
		expect(some.length).toBeGreaterThan(0);
		expect(some.length).toBeLessThan(all.length);
		expect(some.every((id) => id.startsWith('openai/') || id.startsWith('anthropic/claude-sonnet-4'))).toBe(true);
		expect(some).toEqual(all.filter((id) => id.startsWith('openai/') || id.startsWith('anthropic/claude-sonnet-4')));
	});

	it('records the token on each usage record and lists its spend today and this month', async () => {
		const caller = callerFor(services, ada);
		const spender = await caller.tokens.create({ name: 'spender', dailyBudgetUsd: 1, monthlyBudgetUsd: 20 });
		recordSecret(spender.token);
		const idle = await caller.tokens.create({ name: 'idle' });
		recordSecret(idle.token);
		expect((await complete(spender.token, 'openai/gpt-4o-mini')).status).toBe(200);
		expect((await complete(spender.token, 'openai/gpt-4o-mini')).status).toBe(200);

		const records = await vi.waitFor(async () => {
			const rows = await recordsOf(spender.id);
			expect(rows).toHaveLength(2);
			return rows;
		});
		const cost = records.reduce((sum, r) => sum + Number(r.cost_micros), 0);
		expect(cost).toBeGreaterThan(0);

		const listed = await caller.tokens.list();
		const spenderRow = listed.find((t) => t.id === spender.id);
		expect(spenderRow).toMatchObject({
			dailyBudgetMicros: 1_000_000,
			monthlyBudgetMicros: 20_000_000,
			modelScope: null,
			spentTodayMicros: cost,
			spentThisMonthMicros: cost
		});
		expect(listed.find((t) => t.id === idle.id)).toMatchObject({ spentTodayMicros: 0, spentThisMonthMicros: 0 });
		// The settled cost also reached the token's budget rows, and nothing is left reserved.
		const rows = await db
			.selectFrom('token_spend')
			.select(['period', 'settled_micros', 'reserved_micros'])
			.where('token_id', '=', spender.id)
			.orderBy('period')
			.execute();
		expect(rows.map((r) => [r.period, Number(r.settled_micros), Number(r.reserved_micros)])).toEqual([
			['day', cost, 0],
			['month', cost, 0]
		]);
	});

	it('refuses a request over the token budget with a 402 and the reset time', async () => {
		const { token } = await createAccessToken(db, ada.id, { name: 'tiny', dailyBudgetUsd: 0.000001 });
		const response = await complete(token, 'openai/gpt-4o-mini');
		expect(response.status).toBe(402);
		const body = (await response.json()) as { error: { code: string; message: string } };
		expect(body.error.code).toBe('token_daily_budget');
		expect(body.error.message).toMatch(/daily budget of \$0\.000001.*It resets at 00:00 UTC/);
	});

	/** A token with budgets, and a worst case of 1,000 micro-dollars per request. */
	async function budgetedToken(budgets: { dailyBudgetUsd?: number; monthlyBudgetUsd?: number }) {
		const user = await createUser(db, 'budget');
		const { id } = await createAccessToken(db, user.id, { name: 'budgeted', ...budgets });
		const limits = { ...services.config.limitDefaults, requestsPerHour: 1_000 };
		const request = (now: Date): AdmitRequest => ({
			userId: user.id,
			tokenId: id,
			provider: 'openai',
			keySource: 'user',
			reserveMicros: 1_000,
			reserveTokens: 10,
			requestId: randomUUID(),
			now
		});
		return { id, admitOne: (now: Date) => admit(db, limits, request(now)) };
	}
	const spendOf = async (tokenId: string, period: 'day' | 'month', start: string) => {
		const row = await db
			.selectFrom('token_spend')
			.select(['settled_micros', 'reserved_micros'])
			.where('token_id', '=', tokenId)
			.where('period', '=', period)
			.where('period_start', '=', sql<Date>`${start}::date`)
			.executeTakeFirst();
		return row && { settled: Number(row.settled_micros), reserved: Number(row.reserved_micros) };
	};
	async function admitConcurrently(count: number, admitOne: () => Promise<Admission>) {
		const results = await Promise.allSettled(Array.from({ length: count }, admitOne));
		return {
			admitted: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
			refused: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
		};
	}

	it('admits exactly as many of 40 concurrent requests as the daily budget holds, and never settles past it', async () => {
		const { id, admitOne } = await budgetedToken({ dailyBudgetUsd: 0.0125 });
		const now = new Date('2030-03-10T12:00:00Z');
		const { admitted, refused } = await admitConcurrently(40, () => admitOne(now));
		expect(admitted).toHaveLength(12);
		expect(refused).toHaveLength(28);
		for (const error of refused) {
			expect(error).toBeInstanceOf(AppError);
			expect((error as AppError).status).toBe(402);
			expect((error as AppError).reason).toBe('token_daily_budget');
			expect((error as AppError).details?.resetsAt).toBe('2030-03-11T00:00:00.000Z');
		}
		expect(await spendOf(id, 'day', '2030-03-10')).toEqual({ settled: 0, reserved: 12_000 });

		await Promise.all(admitted.map((a) => settle(db, a, { costMicros: a.reservedMicros, totalTokens: 10 })));
		expect(await spendOf(id, 'day', '2030-03-10')).toEqual({ settled: 12_000, reserved: 0 });
		expect(await spendOf(id, 'month', '2030-03-01')).toEqual({ settled: 12_000, reserved: 0 });
		// The account's own cap took the same requests: refused ones gave their share back.
		const cap = await db
			.selectFrom('limit_daily_spend')
			.select(['settled_micros', 'reserved_micros'])
			.where('day', '=', sql<Date>`'2030-03-10'::date`)
			.where('user_id', '=', admitted[0]?.userId ?? '')
			.executeTakeFirstOrThrow();
		expect([Number(cap.settled_micros), Number(cap.reserved_micros)]).toEqual([12_000, 0]);
		// Only what is left fits: nothing, at 500 micro-dollars short.
		expect((await appErrorFrom(admitOne(now))).reason).toBe('token_daily_budget');
		// The next UTC day starts afresh.
		await release(db, await admitOne(new Date('2030-03-11T00:00:01Z')));
	});

	it('admits exactly as many of 40 concurrent requests as the monthly budget holds, resetting on the 1st', async () => {
		const { id, admitOne } = await budgetedToken({ dailyBudgetUsd: 1, monthlyBudgetUsd: 0.007 });
		const now = new Date('2030-04-30T23:00:00Z');
		const { admitted, refused } = await admitConcurrently(40, () => admitOne(now));
		expect(admitted).toHaveLength(7);
		expect(refused.map((e) => (e as AppError).reason)).toEqual(Array(33).fill('token_monthly_budget'));
		expect((refused[0] as AppError).details?.resetsAt).toBe('2030-05-01T00:00:00.000Z');
		// A refusal by the month gives back what the day took in the same call.
		expect(await spendOf(id, 'day', '2030-04-30')).toEqual({ settled: 0, reserved: 7_000 });
		await Promise.all(admitted.map((a) => release(db, a)));
		expect(await spendOf(id, 'day', '2030-04-30')).toEqual({ settled: 0, reserved: 0 });
		expect(await spendOf(id, 'month', '2030-04-01')).toEqual({ settled: 0, reserved: 0 });
		await release(db, await admitOne(new Date('2030-05-01T00:00:00Z')));
	});

	it("gives a dead request's reservation back to the token's budget when reclaimed", async () => {
		const { id, admitOne } = await budgetedToken({ dailyBudgetUsd: 0.002 });
		const now = new Date('2030-06-15T08:00:00Z');
		await admitOne(now);
		await admitOne(now);
		expect((await appErrorFrom(admitOne(now))).reason).toBe('token_daily_budget');
		await reclaimExpiredReservations(db, { olderThanSeconds: 60, now: new Date('2030-06-15T09:00:00Z') });
		expect(await spendOf(id, 'day', '2030-06-15')).toEqual({ settled: 0, reserved: 0 });
		expect(await spendOf(id, 'month', '2030-06-01')).toEqual({ settled: 0, reserved: 0 });
		await release(db, await admitOne(now));
	});

	it('refuses a negative budget and unknown pattern syntax, creating nothing', async () => {
		const caller = callerFor(services, ada);
		const before = await tokenCount();
		const bad: Record<string, unknown>[] = [
			{ dailyBudgetUsd: -1 },
			{ monthlyBudgetUsd: -0.01 },
			{ dailyBudgetUsd: 0.0000001 },
			{ dailyBudgetUsd: '5' },
			{ modelScope: ['gpt-4o'] },
			{ modelScope: ['*'] },
			{ modelScope: ['openai/gpt*4o'] },
			{ modelScope: ['openai/**'] },
			{ modelScope: ['mistral/*'] },
			{ modelScope: 'openai/*' },
			{ modelScope: Array.from({ length: 21 }, (_, i) => `openai/m${i}`) }
		];
		for (const fields of bad) {
			const failure = await trpcFailure(caller.tokens.create({ name: 'bad', ...fields } as never));
			expect(failure.code, JSON.stringify(fields)).toBe('BAD_REQUEST');
		}
		expect(await tokenCount()).toBe(before);
		// The schema holds the same rules for anything that writes around the app.
		const insert = (values: Partial<Record<'model_scope' | 'daily_budget_micros', unknown>>) =>
			db
				.insertInto('access_tokens')
				.values({
					user_id: ada.id,
					name: 'direct',
					lookup_id: 'AbCd1234',
					token_hash: '0'.repeat(64),
					...(values as object)
				})
				.execute();
		await expect(insert({ daily_budget_micros: -1 })).rejects.toThrow();
		await expect(insert({ model_scope: sql`array['openai/a*b']` })).rejects.toThrow();
		expect(await tokenCount()).toBe(before);
	});
});
