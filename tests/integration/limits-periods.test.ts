import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import {
	admit,
	getEffectiveLimits,
	reclaimExpiredReservations,
	release,
	settle,
	type Admission,
	type KeySource,
	type LimitDefaults
} from '$lib/server/limits';
import { createCaller, type SessionUser } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';

const at = (iso: string) => new Date(iso);

async function createUser(db: Kysely<Database>, role: 'user' | 'admin' = 'user'): Promise<SessionUser> {
	return db
		.insertInto('users')
		.values({ email: `periods-${randomUUID().slice(0, 12)}@example.com`, password_hash: 'not used', role })
		.returning(['id', 'email', 'role'])
		.executeTakeFirstOrThrow();
}

/** Starts `count` admissions at once; what was admitted and what was refused. */
async function admitConcurrently(count: number, admitOne: () => Promise<Admission>) {
	const results = await Promise.allSettled(Array.from({ length: count }, admitOne));
	return {
		admitted: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
		refused: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as AppError] : []))
	};
}

describeEachDatabase('weekly, monthly and per-model spending caps (issue 21)', (database) => {
	let services: Services;
	let db: Kysely<Database>;
	let defaults: LimitDefaults;
	beforeAll(async () => {
		services = await testServices(database().handle);
		db = services.db;
		defaults = services.config.limitDefaults;
	});
	const callerFor = (user: SessionUser) =>
		createCaller({ services, user, sessionId: null, ip: '10.0.0.8', requestId: 'test' });

	const request = (
		userId: string,
		now: Date,
		reserveMicros: number,
		extra: Partial<{ provider: Provider; keySource: KeySource; model: string }> = {}
	) => ({
		userId,
		provider: extra.provider ?? ('openai' as Provider),
		keySource: extra.keySource ?? ('user' as KeySource),
		model: extra.model,
		reserveMicros,
		reserveTokens: 10,
		requestId: randomUUID(),
		now
	});

	const spendSum = async (userId: string, from: string, to: string, keySource: KeySource = 'user') =>
		db
			.selectFrom('limit_daily_spend')
			.select([
				sql<number>`coalesce(sum(settled_micros), 0)::bigint`.as('settled'),
				sql<number>`coalesce(sum(reserved_micros), 0)::bigint`.as('reserved')
			])
			.where('user_id', '=', userId)
			.where('key_source', '=', keySource)
			.where('day', '>=', sql<Date>`${from}::date`)
			.where('day', '<=', sql<Date>`${to}::date`)
			.executeTakeFirstOrThrow();

	const modelRow = (userId: string, model: string, day: string) =>
		db
			.selectFrom('limit_model_spend')
			.select(['settled_micros', 'reserved_micros'])
			.where('user_id', '=', userId)
			.where('model', '=', model)
			.where('day', '=', sql<Date>`${day}::date`)
			.executeTakeFirst();

	it('admits exactly what fits of 40 concurrent requests under a weekly cap, counting earlier days, and settles exactly', async () => {
		const user = await createUser(db);
		await callerFor(user).limits.set({ provider: 'openai', weeklyCapUsd: 1 });
		// The week of Monday 2030-01-07: $0.40 settled on Monday, $0.10 still running from Tuesday.
		const monday = await admit(db, defaults, request(user.id, at('2030-01-07T09:00:00Z'), 400_000));
		await settle(db, monday, { costMicros: 400_000, totalTokens: 10 });
		const running = await admit(db, defaults, request(user.id, at('2030-01-08T23:59:00Z'), 100_000));

		const wednesday = at('2030-01-09T12:00:00Z');
		const { admitted, refused } = await admitConcurrently(40, () =>
			admit(db, defaults, request(user.id, wednesday, 100_000))
		);
		expect(admitted).toHaveLength(5);
		expect(refused).toHaveLength(35);
		for (const error of refused) {
			expect(error).toBeInstanceOf(AppError);
			expect(error).toMatchObject({ code: 'spend_cap_reached', status: 402, reason: 'weekly_cap' });
			expect(error.details).toMatchObject({ resetsAt: '2030-01-14T00:00:00.000Z', capMicros: 1_000_000 });
		}
		expect(refused[0]?.message).toBe(
			'This request could cost up to $0.10, more than the $0.00 left (counting requests still running) of your weekly OpenAI spending cap on your own key ($1.00). It resets at 00:00 UTC on 2030-01-14.'
		);
		expect(await spendSum(user.id, '2030-01-07', '2030-01-13')).toEqual({ settled: 400_000, reserved: 600_000 });

		await Promise.all(admitted.map((a) => settle(db, a, { costMicros: 90_000, totalTokens: 10 })));
		await settle(db, running, { costMicros: 100_000, totalTokens: 10 });
		expect(await spendSum(user.id, '2030-01-07', '2030-01-13')).toEqual({ settled: 950_000, reserved: 0 });
		const limits = await callerFor(user).limits.get();
		expect(limits.providers[0]?.own).toMatchObject({ weeklyCapMicros: 1_000_000, monthlyCapMicros: null });

		const shown = await getEffectiveLimits(db, defaults, user.id, { now: at('2030-01-12T08:00:00Z') });
		expect(shown.weekResetsAt.toISOString()).toBe('2030-01-14T00:00:00.000Z');
		expect(shown.providers[0]?.own.used).toMatchObject({ settledThisWeekMicros: 950_000, reservedThisWeekMicros: 0 });

		// What is left fits to the micro-dollar, and the cap lifts at Monday 00:00 UTC, not before.
		const sunday = at('2030-01-13T23:59:59Z');
		expect((await appErrorFrom(admit(db, defaults, request(user.id, sunday, 50_001)))).reason).toBe('weekly_cap');
		const last = await admit(db, defaults, request(user.id, sunday, 50_000));
		await settle(db, last, { costMicros: 50_000, totalTokens: 10 });
		const spent = await appErrorFrom(admit(db, defaults, request(user.id, sunday, 0)));
		expect(spent.message).toBe(
			'You reached your weekly OpenAI spending cap on your own key ($1.00). It resets at 00:00 UTC.'
		);
		const nextWeek = await admit(db, defaults, request(user.id, at('2030-01-14T00:00:00Z'), 1_000_000));
		await release(db, nextWeek);
	});

	it('admits exactly what fits of 40 concurrent requests under a monthly cap on the app key, and resets on the 1st', async () => {
		const user = await createUser(db);
		await callerFor(user).limits.set({ provider: 'anthropic', appMonthlyCapUsd: 1.8 });
		const key = { provider: 'anthropic' as Provider, keySource: 'app' as KeySource };
		// $1.50 spent earlier in March, on three days (the app key's daily cap is $0.50).
		for (const day of ['2030-03-01', '2030-03-04', '2030-03-11']) {
			const a = await admit(db, defaults, request(user.id, at(`${day}T10:00:00Z`), 500_000, key));
			await settle(db, a, { costMicros: 500_000, totalTokens: 10 });
		}
		const { admitted, refused } = await admitConcurrently(40, () =>
			admit(db, defaults, request(user.id, at('2030-03-20T10:00:00Z'), 50_000, key))
		);
		expect(admitted).toHaveLength(6);
		for (const error of refused) {
			expect(error).toMatchObject({ code: 'spend_cap_reached', reason: 'app_monthly_cap' });
			expect(error.details).toMatchObject({ resetsAt: '2030-04-01T00:00:00.000Z', keySource: 'app' });
		}
		await Promise.all(admitted.map((a) => settle(db, a, { costMicros: 50_000, totalTokens: 10 })));
		expect(await spendSum(user.id, '2030-03-01', '2030-03-31', 'app')).toEqual({ settled: 1_800_000, reserved: 0 });

		const shown = await getEffectiveLimits(db, defaults, user.id, { now: at('2030-03-31T23:00:00Z') });
		const app = shown.providers.find((p) => p.provider === 'anthropic')?.app;
		expect(app).toMatchObject({ monthlyCapMicros: 1_800_000, paused: true, pausedUntil: at('2030-04-01T00:00:00Z') });
		expect(app?.used).toMatchObject({ settledThisMonthMicros: 1_800_000 });
		expect(shown.monthResetsAt.toISOString()).toBe('2030-04-01T00:00:00.000Z');
		// The own key is a separate budget.
		const own = await admit(
			db,
			defaults,
			request(user.id, at('2030-03-31T23:00:00Z'), 100_000, { provider: 'anthropic' })
		);
		await release(db, own);
		const april = await admit(db, defaults, request(user.id, at('2030-04-01T00:00:00Z'), 500_000, key));
		await release(db, april);
	});

	it('counts a week across a month boundary for the weekly cap but not the monthly one', async () => {
		const user = await createUser(db);
		await callerFor(user).limits.set({ provider: 'google', weeklyCapUsd: 1, monthlyCapUsd: 1 });
		const key = { provider: 'google' as Provider };
		const tuesday = await admit(db, defaults, request(user.id, at('2030-04-30T10:00:00Z'), 800_000, key));
		await settle(db, tuesday, { costMicros: 800_000, totalTokens: 10 });
		const may = at('2030-05-01T10:00:00Z');
		const refused = await appErrorFrom(admit(db, defaults, request(user.id, may, 300_000, key)));
		expect(refused.reason).toBe('weekly_cap');
		expect(refused.details).toMatchObject({ resetsAt: '2030-05-06T00:00:00.000Z', settledMicros: 800_000 });
		const fits = await admit(db, defaults, request(user.id, may, 200_000, key));
		await settle(db, fits, { costMicros: 200_000, totalTokens: 10 });
		// Next week: the monthly cap ($0.20 spent in May) is what holds.
		const refusedMonthly = await appErrorFrom(
			admit(db, defaults, request(user.id, at('2030-05-06T10:00:00Z'), 900_000, key))
		);
		expect(refusedMonthly.reason).toBe('monthly_cap');
		expect(refusedMonthly.details).toMatchObject({ resetsAt: '2030-06-01T00:00:00.000Z', settledMicros: 200_000 });
	});

	it('admits exactly what fits of 40 concurrent requests under a per-model cap, leaving other models alone', async () => {
		const user = await createUser(db);
		const opus = 'anthropic/claude-opus-4';
		const key = { provider: 'anthropic' as Provider, model: opus };
		const now = at('2030-06-05T15:00:00Z');
		// Spend before the cap is set counts too.
		const early = await admit(db, defaults, request(user.id, now, 200_000, key));
		await settle(db, early, { costMicros: 200_000, totalTokens: 10 });
		const set = await callerFor(user).limits.setModelCap({ model: opus, dailyCapUsd: 0.7 });
		expect(set.modelCaps).toEqual([
			expect.objectContaining({ model: opus, dailyCapMicros: 700_000, userSetting: 700_000, adminCeiling: null })
		]);

		const { admitted, refused } = await admitConcurrently(40, () =>
			admit(db, defaults, request(user.id, now, 100_000, key))
		);
		expect(admitted).toHaveLength(5);
		for (const error of refused) {
			expect(error).toMatchObject({ code: 'spend_cap_reached', status: 402, reason: 'model_daily_cap' });
			expect(error.details).toMatchObject({ model: opus, resetsAt: '2030-06-06T00:00:00.000Z' });
		}
		expect(await modelRow(user.id, opus, '2030-06-05')).toEqual({ settled_micros: 200_000, reserved_micros: 500_000 });
		// The provider's own cap gave back what the refused requests took.
		expect(await spendSum(user.id, '2030-06-05', '2030-06-05')).toEqual({ settled: 200_000, reserved: 500_000 });

		// Another model of the same provider is not held by it.
		const sonnet = await admit(
			db,
			defaults,
			request(user.id, now, 100_000, { provider: 'anthropic', model: 'anthropic/claude-sonnet-4' })
		);
		await settle(db, sonnet, { costMicros: 1_000, totalTokens: 10 });

		// Release one; the reclaimer then takes back the other four as if their process died (the
		// model's row frees up), and their late settles still record the real cost, once.
		const [released, late, ...rest] = admitted;
		await release(db, released as Admission);
		expect(await modelRow(user.id, opus, '2030-06-05')).toEqual({ settled_micros: 200_000, reserved_micros: 400_000 });
		const reclaimed = await reclaimExpiredReservations(db, { olderThanSeconds: 900, now: at('2030-06-05T15:20:00Z') });
		expect(reclaimed.filter((r) => r.userId === user.id)).toHaveLength(4);
		expect(await modelRow(user.id, opus, '2030-06-05')).toEqual({ settled_micros: 200_000, reserved_micros: 0 });
		await Promise.all(rest.map((a) => settle(db, a, { costMicros: 80_000, totalTokens: 10 })));
		expect(await modelRow(user.id, opus, '2030-06-05')).toEqual({ settled_micros: 440_000, reserved_micros: 0 });
		await settle(db, late as Admission, { costMicros: 30_000, totalTokens: 10 });
		expect(await modelRow(user.id, opus, '2030-06-05')).toEqual({ settled_micros: 470_000, reserved_micros: 0 });
		expect(await spendSum(user.id, '2030-06-05', '2030-06-05')).toEqual({ settled: 471_000, reserved: 0 });

		const fits = await admit(db, defaults, request(user.id, now, 230_000, key));
		await settle(db, fits, { costMicros: 230_000, totalTokens: 10 });
		const spent = await appErrorFrom(admit(db, defaults, request(user.id, now, 0, key)));
		expect(spent.message).toBe(
			'You reached your daily spending cap for anthropic/claude-opus-4 ($0.70). It resets at 00:00 UTC.'
		);
		const shown = await getEffectiveLimits(db, defaults, user.id, { now });
		expect(shown.modelCaps).toEqual([
			expect.objectContaining({ model: opus, settledTodayMicros: 700_000, paused: true })
		]);
		const tomorrow = await admit(db, defaults, request(user.id, at('2030-06-06T00:00:00Z'), 700_000, key));
		await release(db, tomorrow);

		// null removes the cap.
		expect((await callerFor(user).limits.setModelCap({ model: opus, dailyCapUsd: null })).modelCaps).toEqual([]);
		const uncapped = await admit(db, defaults, request(user.id, now, 100_000, key));
		await release(db, uncapped);
	});

	it('keeps no model row without a cap, and a new cap counts requests still running', async () => {
		const user = await createUser(db);
		const haiku = 'anthropic/claude-haiku-4';
		const key = { provider: 'anthropic' as Provider, model: haiku };
		const now = at('2030-07-01T09:00:00Z');
		const done = await admit(db, defaults, request(user.id, now, 50_000, key));
		await settle(db, done, { costMicros: 40_000, totalTokens: 10 });
		const running = await admit(db, defaults, request(user.id, now, 60_000, key));
		expect(await modelRow(user.id, haiku, '2030-07-01')).toBeUndefined();

		// The cap counts what was settled and what is still reserved today.
		await callerFor(user).limits.setModelCap({ model: haiku, dailyCapUsd: 0.15 });
		expect(await modelRow(user.id, haiku, '2030-07-01')).toEqual({ settled_micros: 40_000, reserved_micros: 60_000 });
		// Saving the cap again counts nothing twice.
		await callerFor(user).limits.setModelCap({ model: haiku, dailyCapUsd: 0.15 });
		expect(await modelRow(user.id, haiku, '2030-07-01')).toEqual({ settled_micros: 40_000, reserved_micros: 60_000 });

		// The running request settles into the model's row; the next one no longer fits.
		await settle(db, running, { costMicros: 70_000, totalTokens: 10 });
		expect(await modelRow(user.id, haiku, '2030-07-01')).toEqual({ settled_micros: 110_000, reserved_micros: 0 });
		const refused = await appErrorFrom(admit(db, defaults, request(user.id, now, 50_000, key)));
		expect(refused.reason).toBe('model_daily_cap');
		expect(await spendSum(user.id, '2030-07-01', '2030-07-01')).toEqual({ settled: 110_000, reserved: 0 });
	});

	it('counts a request admitted while its model cap was being saved when it settles', async () => {
		const user = await createUser(db);
		const model = 'openai/gpt-4.1';
		const now = at('2030-07-02T09:00:00Z');
		const racing = await admit(db, defaults, request(user.id, now, 50_000, { provider: 'openai', model }));
		// The cap lands after the admission read "no cap" and after the cap's count of the day.
		await db.insertInto('limit_model_caps').values({ user_id: user.id, model, daily_cap_micros: 100_000 }).execute();
		await settle(db, racing, { costMicros: 30_000, totalTokens: 10 });
		expect(await modelRow(user.id, model, '2030-07-02')).toEqual({ settled_micros: 30_000, reserved_micros: 0 });
		// Settling again changes nothing.
		await settle(db, racing, { costMicros: 30_000, totalTokens: 10 });
		expect(await modelRow(user.id, model, '2030-07-02')).toEqual({ settled_micros: 30_000, reserved_micros: 0 });
	});

	it('counts a running request admitted under a weekly cap when its model cap is saved', async () => {
		const user = await createUser(db);
		const model = 'openai/o3';
		const now = at('2030-07-03T09:00:00Z');
		// A weekly cap sends admission through every step; the reservation still names its model.
		await callerFor(user).limits.set({ provider: 'openai', weeklyCapUsd: 1 });
		const running = await admit(db, defaults, request(user.id, now, 40_000, { provider: 'openai', model }));
		expect(await modelRow(user.id, model, '2030-07-03')).toBeUndefined();
		await callerFor(user).limits.setModelCap({ model, dailyCapUsd: 0.5 });
		expect(await modelRow(user.id, model, '2030-07-03')).toEqual({ settled_micros: 0, reserved_micros: 40_000 });
		await settle(db, running, { costMicros: 25_000, totalTokens: 10 });
		expect(await modelRow(user.id, model, '2030-07-03')).toEqual({ settled_micros: 25_000, reserved_micros: 0 });
	});

	it('makes 80 % and 100 % notifications due for weekly, monthly and model caps, once per window', async () => {
		const user = await createUser(db);
		await callerFor(user).limits.set({ provider: 'openai', weeklyCapUsd: 1, monthlyCapUsd: 2 });
		const model = 'openai/gpt-4o';
		await callerFor(user).limits.setModelCap({ model, dailyCapUsd: 0.5 });
		const spendOn = async (iso: string, micros: number, onModel: string | null = model) => {
			const a = await admit(db, defaults, request(user.id, at(iso), micros, onModel ? { model: onModel } : {}));
			return (await settle(db, a, { costMicros: micros, totalTokens: 10 })).crossed;
		};
		expect(await spendOn('2030-07-01T10:00:00Z', 300_000)).toEqual([]);
		const at80 = await spendOn('2030-07-02T10:00:00Z', 500_000);
		expect(at80.map((n) => [n.kind, n.windowKey])).toEqual([
			['cap_80', 'model_daily_cap:2030-07-02:openai/gpt-4o'],
			['cap_100', 'model_daily_cap:2030-07-02:openai/gpt-4o'],
			['cap_80', 'weekly_cap:2030-07-01']
		]);
		expect(at80[2]?.message).toBe(
			'You have used 80% of your weekly OpenAI spending cap on your own key ($0.80 of $1.00). It resets at 00:00 UTC on 2030-07-08.'
		);
		const full = await spendOn('2030-07-03T10:00:00Z', 200_000);
		expect(full.map((n) => [n.kind, n.windowKey])).toEqual([
			['cap_100', 'weekly_cap:2030-07-01'],
			['key_paused', 'weekly_cap:2030-07-01']
		]);
		expect(full[1]?.message).toBe(
			"Your own OpenAI key is paused until 00:00 UTC on 2030-07-08: this week's spending cap ($1.00) is reached. It resumes by itself."
		);
		// The month ($2.00): $1.00 in the first week, $0.20 and $0.40 in the next: 80 % on 07-15.
		expect(await spendOn('2030-07-10T10:00:00Z', 200_000)).toEqual([]);
		const month = await spendOn('2030-07-15T10:00:00Z', 400_000, null);
		expect(month.map((n) => [n.kind, n.windowKey])).toEqual([['cap_80', 'monthly_cap:2030-07-01']]);
		expect(month[0]?.message).toContain('It resets at 00:00 UTC on 2030-08-01.');
	});

	it('keeps weekly and monthly caps within the admin ceiling, and refuses bad input with nothing changed', async () => {
		const admin = await createUser(db, 'admin');
		const user = await createUser(db);
		await callerFor(admin).admin.setLimits({
			userId: user.id,
			provider: 'openai',
			weeklyCapUsd: 10,
			appMonthlyCapUsd: 20
		});
		await callerFor(user).limits.set({ provider: 'openai', weeklyCapUsd: 8 });
		const settingsOf = () =>
			db.selectFrom('limit_settings').selectAll().where('user_id', '=', user.id).orderBy('key_source').execute();
		const before = await settingsOf();
		await expect(
			callerFor(user).limits.set({ provider: 'openai', dailyCapUsd: 1, weeklyCapUsd: 11 })
		).rejects.toMatchObject({
			code: 'BAD_REQUEST',
			message:
				'You can lower your OpenAI weekly spending cap on your own key but not raise it above $10.00 (the limit an admin set). Ask an admin to raise it.'
		});
		for (const input of [
			{ provider: 'openai', weeklyCapUsd: -1 },
			{ provider: 'openai', monthlyCapUsd: '5' },
			{ provider: 'openai', appWeeklyCapUsd: 1e9 },
			{ provider: 'openai', monthlyCapUsd: 0.1234567 },
			{ provider: 'openai', weeklyCapUsd: Number.NaN },
			{ provider: 'openai', yearlyCapUsd: 5 }
		]) {
			await expect(callerFor(user).limits.set(input as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
		}
		expect(await settingsOf()).toEqual(before);

		const shown = await callerFor(user).limits.get();
		const openai = shown.providers.find((p) => p.provider === 'openai');
		expect(openai?.own).toMatchObject({ weeklyCapMicros: 8_000_000, ceiling: { weeklyCapMicros: 10_000_000 } });
		expect(openai?.app).toMatchObject({ monthlyCapMicros: 20_000_000, weeklyCapMicros: null });
		// An admin lowering the ceiling below the user's choice wins.
		await callerFor(admin).admin.setLimits({ userId: user.id, provider: 'openai', weeklyCapUsd: 5 });
		const lowered = await callerFor(user).limits.get();
		expect(lowered.providers.find((p) => p.provider === 'openai')?.own.weeklyCapMicros).toBe(5_000_000);

		// Model caps: bad ids and amounts refused, an admin's ceiling holds, nothing stored on refusal.
		for (const input of [
			{ model: 'gpt-4o', dailyCapUsd: 1 },
			{ model: 'acme/model', dailyCapUsd: 1 },
			{ model: 'openai/gpt 4o', dailyCapUsd: 1 },
			{ model: 'openai/gpt-4o', dailyCapUsd: -1 },
			{ model: 'openai/gpt-4o', dailyCapUsd: 0.0000001 },
			{ model: 'openai/gpt-4o' }
		]) {
			await expect(callerFor(user).limits.setModelCap(input as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
		}
		const modelCaps = () => db.selectFrom('limit_model_caps').selectAll().where('user_id', '=', user.id).execute();
		expect(await modelCaps()).toEqual([]);
		await callerFor(admin).admin.setModelCap({ userId: user.id, model: 'openai/gpt-4o', dailyCapUsd: 2 });
		const capsBefore = await modelCaps();
		await expect(callerFor(user).limits.setModelCap({ model: 'openai/gpt-4o', dailyCapUsd: 3 })).rejects.toMatchObject({
			code: 'BAD_REQUEST',
			message: expect.stringContaining('above $2.00')
		});
		expect(await modelCaps()).toEqual(capsBefore);
		await expect(
			callerFor(user).admin.setModelCap({ userId: user.id, model: 'openai/gpt-4o', dailyCapUsd: 9 })
		).rejects.toMatchObject({ code: 'FORBIDDEN' });
		const lowered2 = await callerFor(user).limits.setModelCap({ model: 'openai/gpt-4o', dailyCapUsd: 1 });
		expect(lowered2.modelCaps).toEqual([
			expect.objectContaining({ model: 'openai/gpt-4o', dailyCapMicros: 1_000_000, adminCeiling: 2_000_000 })
		]);
	});
});
