import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { AppError, httpErrorOf } from '$lib/server/errors';
import {
	admit,
	getEffectiveLimits,
	pruneLimitHistory,
	reclaimExpiredReservations,
	release,
	settle,
	startLimitsMaintenance,
	type Admission,
	type KeySource,
	type LimitDefaults
} from '$lib/server/limits';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';

let emailCounter = 0;
async function createUser(db: Kysely<Database>): Promise<string> {
	emailCounter += 1;
	const row = await db
		.insertInto('users')
		.values({ email: `limits-${emailCounter}-${randomUUID().slice(0, 8)}@example.com`, password_hash: 'not used' })
		.returning('id')
		.executeTakeFirstOrThrow();
	return row.id;
}

const at = (iso: string) => new Date(iso);

/** Starts `count` admissions at once; what was admitted and what was refused (the errors). */
async function admitConcurrently(
	count: number,
	admitOne: () => Promise<Admission>
): Promise<{ admitted: Admission[]; refused: unknown[] }> {
	const results = await Promise.allSettled(Array.from({ length: count }, admitOne));
	return {
		admitted: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
		refused: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
	};
}

describeEachDatabase('rate limits and spending caps', (database) => {
	let services: Services;
	let db: Kysely<Database>;
	let defaults: LimitDefaults;
	beforeAll(async () => {
		services = await testServices(database().handle);
		db = services.db;
		defaults = services.config.limitDefaults;
	});

	const request = (
		userId: string,
		overrides: Partial<{
			provider: Provider;
			keySource: KeySource;
			reserveMicros: number;
			reserveTokens: number;
			now: Date;
		}> = {}
	) => ({
		userId,
		provider: overrides.provider ?? ('openai' as Provider),
		keySource: overrides.keySource ?? ('user' as KeySource),
		reserveMicros: overrides.reserveMicros ?? 1_000,
		reserveTokens: overrides.reserveTokens ?? 100,
		requestId: randomUUID(),
		now: overrides.now
	});

	/** Whether each provider's key sources are paused, as limits.get (the UI) reports it. */
	const pausedSources = async (limits: LimitDefaults, userId: string, now: Date) =>
		(await getEffectiveLimits(db, limits, userId, { now })).providers.flatMap((p) =>
			[p.own, p.app].map((s) => ({
				provider: p.provider,
				keySource: s.keySource,
				paused: s.paused,
				pausedUntil: s.pausedUntil
			}))
		);

	const spendRow = (userId: string, provider: Provider, keySource: KeySource, day: string) =>
		db
			.selectFrom('limit_daily_spend')
			.select(['settled_micros', 'reserved_micros'])
			.where('user_id', '=', userId)
			.where('provider', '=', provider)
			.where('key_source', '=', keySource)
			.where('day', '=', sql<Date>`${day}::date`)
			.executeTakeFirst();

	const hourRow = (userId: string, windowStart: string) =>
		db
			.selectFrom('limit_hourly')
			.select(['requests', 'tokens', 'reserved_tokens'])
			.where('user_id', '=', userId)
			.where('provider', '=', 'openai')
			.where('key_source', '=', 'user')
			.where('window_start', '=', at(windowStart))
			.executeTakeFirst();

	it('admits the hourly number of requests, refuses the next with when it resets, and admits again the next hour', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, requestsPerHour: 3 };
		const now = at('2030-01-15T13:20:00Z');
		for (let i = 0; i < 3; i++) {
			const admission = await admit(db, limits, request(userId, { now }));
			await settle(db, admission, { costMicros: 10, totalTokens: 5 });
		}
		const refused = await appErrorFrom(admit(db, limits, request(userId, { now })));
		expect(refused.code).toBe('rate_limited');
		expect(refused.status).toBe(429);
		expect(refused.reason).toBe('requests_per_hour');
		expect(refused.message).toBe('You reached your OpenAI requests-per-hour limit (3). It resets at 14:00 UTC.');
		expect(refused.retryAfterSeconds).toBe(40 * 60);
		expect(refused.details).toMatchObject({
			limit: 3,
			provider: 'openai',
			keySource: 'user',
			resetsAt: '2030-01-15T14:00:00.000Z'
		});

		const http = httpErrorOf(refused);
		expect(http.status).toBe(429);
		expect(http.headers['retry-after']).toBe('2400');
		expect(http.body.error).toMatchObject({ type: 'rate_limit_error', code: 'requests_per_hour' });

		const nextHour = await admit(db, limits, request(userId, { now: at('2030-01-15T14:00:01Z') }));
		expect(nextHour.windowHour.toISOString()).toBe('2030-01-15T14:00:00.000Z');
		await settle(db, nextHour, { costMicros: 0, totalTokens: 0 });
	});

	it('refuses once the tokens settled this hour reach the tokens-per-hour limit', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, tokensPerHour: 1_000 };
		const now = at('2030-01-15T09:59:30Z');
		const first = await admit(db, limits, request(userId, { now }));
		await settle(db, first, { costMicros: 100, totalTokens: 1_200 });
		const refused = await appErrorFrom(admit(db, limits, request(userId, { now })));
		expect(refused.reason).toBe('tokens_per_hour');
		expect(refused.message).toBe('You reached your OpenAI tokens-per-hour limit (1,000). It resets at 10:00 UTC.');
		expect(refused.retryAfterSeconds).toBe(30);
		const later = await admit(db, limits, request(userId, { now: at('2030-01-15T10:00:00Z') }));
		await settle(db, later, { costMicros: 0, totalTokens: 0 });
	});

	it('admits exactly as many of 100 concurrent requests as the daily cap allows, and never settles past it', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, dailyCapMicros: 1_000_000, requestsPerHour: 1_000 };
		const now = at('2030-02-01T12:00:00Z');
		const { admitted, refused } = await admitConcurrently(100, () =>
			admit(db, limits, request(userId, { reserveMicros: 100_000, now }))
		);
		expect(admitted).toHaveLength(10);
		expect(refused).toHaveLength(90);
		for (const error of refused) {
			expect(error).toBeInstanceOf(AppError);
			expect((error as AppError).code).toBe('spend_cap_reached');
			expect((error as AppError).status).toBe(402);
			expect((error as AppError).reason).toBe('daily_cap');
		}
		expect(await spendRow(userId, 'openai', 'user', '2030-02-01')).toEqual({
			settled_micros: 0,
			reserved_micros: 1_000_000
		});
		// The 90 refused by the cap still count as requests, but their tokens went back to the hour.
		expect(await hourRow(userId, '2030-02-01T12:00:00Z')).toEqual({ requests: 100, tokens: 0, reserved_tokens: 1_000 });

		await Promise.all(admitted.map((a) => settle(db, a, { costMicros: a.reservedMicros, totalTokens: 100 })));
		const spend = await spendRow(userId, 'openai', 'user', '2030-02-01');
		expect(spend).toEqual({ settled_micros: 1_000_000, reserved_micros: 0 });

		const paused = await appErrorFrom(admit(db, limits, request(userId, { reserveMicros: 0, now })));
		expect(paused.code).toBe('spend_cap_reached');
		expect(paused.message).toBe(
			'You reached your daily OpenAI spending cap on your own key ($1.00). It resets at 00:00 UTC.'
		);
		expect(httpErrorOf(paused)).toMatchObject({
			status: 402,
			body: { error: { type: 'insufficient_quota', code: 'daily_cap' } }
		});
		const openai = (await pausedSources(limits, userId, now)).filter((s) => s.provider === 'openai');
		expect(openai).toEqual([
			{ provider: 'openai', keySource: 'user', paused: true, pausedUntil: at('2030-02-02T00:00:00Z') },
			{ provider: 'openai', keySource: 'app', paused: false, pausedUntil: null }
		]);

		const nextDay = at('2030-02-02T00:00:05Z');
		expect((await pausedSources(limits, userId, nextDay))[0]?.paused).toBe(false);
		const resumed = await admit(db, limits, request(userId, { reserveMicros: 100_000, now: nextDay }));
		expect(resumed.day).toBe('2030-02-02');
		await settle(db, resumed, { costMicros: 1, totalTokens: 1 });
	});

	it('keeps the app-key cap apart from the own-key cap, and one provider apart from another', async () => {
		const userId = await createUser(db);
		const now = at('2030-02-03T08:00:00Z');
		// Default own-key cap $5.00, app-key cap $0.50.
		const own = await admit(db, defaults, request(userId, { reserveMicros: 5_000_000, now }));
		await settle(db, own, { costMicros: 5_000_000, totalTokens: 10 });
		expect((await appErrorFrom(admit(db, defaults, request(userId, { now })))).reason).toBe('daily_cap');

		const tooMuchForApp = await appErrorFrom(
			admit(db, defaults, request(userId, { keySource: 'app', reserveMicros: 600_000, now }))
		);
		expect(tooMuchForApp.reason).toBe('app_daily_cap');
		expect(tooMuchForApp.message).toBe(
			"This request could cost up to $0.60, more than the $0.50 left (counting requests still running) of your daily OpenAI spending cap on the app's key ($0.50). It resets at 00:00 UTC."
		);
		const app = await admit(db, defaults, request(userId, { keySource: 'app', reserveMicros: 400_000, now }));
		expect(app.limits.dailyCapMicros).toBe(500_000);
		await settle(db, app, { costMicros: 300_000, totalTokens: 10 });

		const anthropic = await admit(
			db,
			defaults,
			request(userId, { provider: 'anthropic', reserveMicros: 4_000_000, now })
		);
		await settle(db, anthropic, { costMicros: 1, totalTokens: 1 });

		const statuses = await pausedSources(defaults, userId, now);
		expect(statuses.filter((s) => s.paused).map((s) => `${s.provider}/${s.keySource}`)).toEqual(['openai/user']);
	});

	it('settles once: a second settle of the same admission changes nothing', async () => {
		const userId = await createUser(db);
		const now = at('2030-02-04T10:00:00Z');
		const admission = await admit(db, defaults, request(userId, { reserveMicros: 50_000, now }));
		expect((await settle(db, admission, { costMicros: 20_000, totalTokens: 300 })).settled).toBe(true);
		expect((await settle(db, admission, { costMicros: 20_000, totalTokens: 300 })).settled).toBe(false);
		expect(await release(db, admission)).toBe(false);
		expect(await spendRow(userId, 'openai', 'user', '2030-02-04')).toEqual({
			settled_micros: 20_000,
			reserved_micros: 0
		});
		expect(await hourRow(userId, '2030-02-04T10:00:00Z')).toEqual({ requests: 1, tokens: 300, reserved_tokens: 0 });
	});

	it('returns the first admission when the same request id is admitted again', async () => {
		const userId = await createUser(db);
		const now = at('2030-02-04T11:00:00Z');
		const first = request(userId, { reserveMicros: 70_000, now });
		const a = await admit(db, defaults, first);
		const b = await admit(db, defaults, first);
		expect(b.reservationId).toBe(a.reservationId);
		expect(await spendRow(userId, 'openai', 'user', '2030-02-04')).toEqual({
			settled_micros: 0,
			reserved_micros: 70_000
		});
		const other = await createUser(db);
		expect((await appErrorFrom(admit(db, defaults, { ...first, userId: other }))).code).toBe('conflict');
		await release(db, a);
	});

	it('gives a released reservation back to the cap', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, dailyCapMicros: 300_000 };
		const now = at('2030-02-05T10:00:00Z');
		const first = await admit(db, limits, request(userId, { reserveMicros: 200_000, now }));
		const refused = await appErrorFrom(admit(db, limits, request(userId, { reserveMicros: 200_000, now })));
		expect(refused.message).toMatch(/could cost up to \$0\.20, more than the \$0\.10 left/);
		expect(await release(db, first)).toBe(true);
		const second = await admit(db, limits, request(userId, { reserveMicros: 200_000, now }));
		await settle(db, second, { costMicros: 150_000, totalTokens: 10 });
		expect(await spendRow(userId, 'openai', 'user', '2030-02-05')).toEqual({
			settled_micros: 150_000,
			reserved_micros: 0
		});
	});

	it('reclaims the reservation of a request that never settled after the timeout, and the cap frees up', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, dailyCapMicros: 500_000 };
		const started = at('2030-02-06T10:00:00Z');
		const crashed = await admit(db, limits, request(userId, { reserveMicros: 500_000, now: started }));
		expect((await appErrorFrom(admit(db, limits, request(userId, { now: started })))).code).toBe('spend_cap_reached');

		const early = await reclaimExpiredReservations(db, { olderThanSeconds: 900, now: at('2030-02-06T10:10:00Z') });
		expect(early.filter((r) => r.userId === userId)).toEqual([]);

		const reclaimed = await reclaimExpiredReservations(db, { olderThanSeconds: 900, now: at('2030-02-06T10:16:00Z') });
		expect(reclaimed.filter((r) => r.userId === userId)).toEqual([
			{
				reservationId: crashed.reservationId,
				requestId: crashed.requestId,
				userId,
				provider: 'openai',
				keySource: 'user',
				day: '2030-02-06',
				amountMicros: 500_000,
				reservedTokens: 100,
				createdAt: started
			}
		]);
		expect(await spendRow(userId, 'openai', 'user', '2030-02-06')).toEqual({ settled_micros: 0, reserved_micros: 0 });
		// Reclaiming again finds nothing.
		const again = await reclaimExpiredReservations(db, { olderThanSeconds: 900, now: at('2030-02-06T10:30:00Z') });
		expect(again.filter((r) => r.userId === userId)).toEqual([]);

		const next = await admit(db, limits, request(userId, { reserveMicros: 400_000, now: at('2030-02-06T10:17:00Z') }));
		// The crashed request turns out to have finished after all: its real cost is still recorded.
		expect((await settle(db, crashed, { costMicros: 120_000, totalTokens: 50 })).settled).toBe(true);
		expect(await spendRow(userId, 'openai', 'user', '2030-02-06')).toEqual({
			settled_micros: 120_000,
			reserved_micros: 400_000
		});
		await release(db, next);
	});

	it('records a real cost above the reservation and then pauses the source', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, dailyCapMicros: 100_000 };
		const now = at('2030-02-07T10:00:00Z');
		const admission = await admit(db, limits, request(userId, { reserveMicros: 90_000, now }));
		await settle(db, admission, { costMicros: 130_000, totalTokens: 10 });
		expect(await spendRow(userId, 'openai', 'user', '2030-02-07')).toEqual({
			settled_micros: 130_000,
			reserved_micros: 0
		});
		const refused = await appErrorFrom(admit(db, limits, request(userId, { reserveMicros: 0, now })));
		expect(refused.details).toMatchObject({ paused: true, settledMicros: 130_000 });
	});

	it('never admits more than the hourly request limit from many concurrent requests', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, requestsPerHour: 20 };
		const now = at('2030-02-08T10:00:00Z');
		const { admitted, refused } = await admitConcurrently(50, () => admit(db, limits, request(userId, { now })));
		expect(admitted).toHaveLength(20);
		expect(refused.every((reason) => reason instanceof AppError && reason.code === 'rate_limited')).toBe(true);
		await Promise.all(admitted.map((a: Admission) => release(db, a)));
	});

	it('reports limits in force, usage, reset times and paused state for every provider', async () => {
		const userId = await createUser(db);
		const now = at('2030-02-09T15:45:00Z');
		const admission = await admit(db, defaults, request(userId, { provider: 'google', reserveMicros: 30_000, now }));
		await settle(db, admission, { costMicros: 12_345, totalTokens: 777 });
		const open = await admit(db, defaults, request(userId, { provider: 'google', reserveMicros: 5_000, now }));
		const limits = await getEffectiveLimits(db, defaults, userId, { now });
		expect(limits.hourResetsAt).toEqual(at('2030-02-09T16:00:00Z'));
		expect(limits.dayResetsAt).toEqual(at('2030-02-10T00:00:00Z'));
		expect(limits.weekResetsAt).toEqual(at('2030-02-11T00:00:00Z'));
		expect(limits.monthResetsAt).toEqual(at('2030-03-01T00:00:00Z'));
		expect(limits.modelCaps).toEqual([]);
		expect(limits.providers.map((p) => p.provider)).toEqual(['openai', 'anthropic', 'google', 'openrouter']);
		const google = limits.providers.find((p) => p.provider === 'google');
		expect(google?.own).toEqual({
			keySource: 'user',
			requestsPerHour: 100,
			tokensPerHour: 200_000,
			dailyCapMicros: 5_000_000,
			weeklyCapMicros: null,
			monthlyCapMicros: null,
			userSetting: {
				requestsPerHour: null,
				tokensPerHour: null,
				dailyCapMicros: null,
				weeklyCapMicros: null,
				monthlyCapMicros: null
			},
			adminCeiling: {
				requestsPerHour: null,
				tokensPerHour: null,
				dailyCapMicros: null,
				weeklyCapMicros: null,
				monthlyCapMicros: null
			},
			ceiling: {
				requestsPerHour: 100,
				tokensPerHour: 200_000,
				dailyCapMicros: 5_000_000,
				weeklyCapMicros: null,
				monthlyCapMicros: null
			},
			used: {
				requestsThisHour: 2,
				tokensThisHour: 777,
				reservedTokensThisHour: 100,
				settledTodayMicros: 12_345,
				reservedTodayMicros: 5_000,
				settledThisWeekMicros: 12_345,
				reservedThisWeekMicros: 5_000,
				settledThisMonthMicros: 12_345,
				reservedThisMonthMicros: 5_000
			},
			paused: false,
			pausedUntil: null
		});
		expect(google?.app.dailyCapMicros).toBe(500_000);
		expect(google?.app.used.requestsThisHour).toBe(0);
		await release(db, open);
	});

	it('admits exactly as many of 100 concurrent requests as the tokens-per-hour limit has room for their worst case', async () => {
		const userId = await createUser(db);
		// Room for exactly 10 worst cases of 4,000 tokens (the 11th would need 44,000).
		const limits = { ...defaults, tokensPerHour: 43_999, requestsPerHour: 1_000 };
		const now = at('2030-03-01T12:15:00Z');
		const { admitted, refused } = await admitConcurrently(100, () =>
			admit(db, limits, request(userId, { reserveTokens: 4_000, now }))
		);
		expect(admitted).toHaveLength(10);
		expect(refused).toHaveLength(90);
		for (const error of refused) {
			expect(error).toBeInstanceOf(AppError);
			const appError = error as AppError;
			expect(appError.code).toBe('rate_limited');
			expect(appError.reason).toBe('tokens_per_hour');
			expect(appError.retryAfterSeconds).toBe(45 * 60);
			expect(httpErrorOf(appError)).toMatchObject({
				status: 429,
				headers: { 'retry-after': '2700' },
				body: { error: { type: 'rate_limit_error', code: 'tokens_per_hour' } }
			});
		}
		expect((refused[0] as AppError).message).toBe(
			'This request could use up to 4,000 tokens, more than the 3,999 left (counting requests still running) of your OpenAI tokens-per-hour limit (43,999). It resets at 13:00 UTC.'
		);
		expect((refused[0] as AppError).details).toMatchObject({
			limit: 43_999,
			usedTokens: 0,
			reservedTokens: 40_000,
			requestedTokens: 4_000,
			resetsAt: '2030-03-01T13:00:00.000Z'
		});
		// Requests refused by the hour row are not counted at all (only the 10 admitted are).
		expect(await hourRow(userId, '2030-03-01T12:00:00Z')).toEqual({ requests: 10, tokens: 0, reserved_tokens: 40_000 });

		// Each settles at or under its worst case: the hour ends up within the limit.
		await Promise.all(admitted.map((a) => settle(db, a, { costMicros: 1, totalTokens: 4_000 })));
		expect(await hourRow(userId, '2030-03-01T12:00:00Z')).toEqual({ requests: 10, tokens: 40_000, reserved_tokens: 0 });
		const limitsView = await getEffectiveLimits(db, limits, userId, { now });
		expect(limitsView.providers[0]?.own.used).toMatchObject({ tokensThisHour: 40_000, reservedTokensThisHour: 0 });
	});

	it('settles real tokens below and above the reservation: the room left follows the real counts', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, tokensPerHour: 1_000 };
		const now = at('2030-03-02T10:00:00Z');
		const a = await admit(db, limits, request(userId, { reserveTokens: 400, now }));
		const b = await admit(db, limits, request(userId, { reserveTokens: 400, now }));
		expect(a.reservedTokens).toBe(400);
		const full = await appErrorFrom(admit(db, limits, request(userId, { reserveTokens: 400, now })));
		expect(full.reason).toBe('tokens_per_hour');
		expect(full.message).toMatch(/could use up to 400 tokens, more than the 200 left/);

		// A request refused by the hour row is not counted. Below the reserve: 300 tokens come back.
		expect((await settle(db, a, { costMicros: 1, totalTokens: 100 })).settled).toBe(true);
		expect(await hourRow(userId, '2030-03-02T10:00:00Z')).toEqual({ requests: 2, tokens: 100, reserved_tokens: 400 });
		const c = await admit(db, limits, request(userId, { reserveTokens: 400, now }));

		// Above the reserve (the caller underestimated): the real count is recorded.
		expect((await settle(db, b, { costMicros: 1, totalTokens: 700 })).settled).toBe(true);
		expect(await hourRow(userId, '2030-03-02T10:00:00Z')).toEqual({ requests: 3, tokens: 800, reserved_tokens: 400 });
		const noRoom = await appErrorFrom(admit(db, limits, request(userId, { reserveTokens: 100, now })));
		expect(noRoom.reason).toBe('tokens_per_hour');

		// A release gives the tokens back without using any.
		expect(await release(db, c)).toBe(true);
		expect(await hourRow(userId, '2030-03-02T10:00:00Z')).toEqual({ requests: 3, tokens: 800, reserved_tokens: 0 });
		const d = await admit(db, limits, request(userId, { reserveTokens: 200, now }));
		await settle(db, d, { costMicros: 1, totalTokens: 250 });
		expect(await hourRow(userId, '2030-03-02T10:00:00Z')).toEqual({ requests: 4, tokens: 1_050, reserved_tokens: 0 });

		// The limit is now reached, whatever the request's size.
		const reached = await appErrorFrom(admit(db, limits, request(userId, { reserveTokens: 0, now })));
		expect(reached.message).toBe('You reached your OpenAI tokens-per-hour limit (1,000). It resets at 11:00 UTC.');
		expect(reached.details).toMatchObject({ usedTokens: 1_050, reservedTokens: 0 });
	});

	it('refuses with a 400, not a 429, a request whose worst case alone exceeds the whole tokens-per-hour limit', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, tokensPerHour: 5_000 };
		const now = at('2030-03-03T10:00:00Z');
		const tooBig = await appErrorFrom(admit(db, limits, request(userId, { reserveTokens: 5_001, now })));
		expect(tooBig.code).toBe('bad_request');
		expect(tooBig.status).toBe(400);
		expect(tooBig.reason).toBe('request_exceeds_tokens_per_hour');
		expect(tooBig.retryAfterSeconds).toBeUndefined();
		expect(tooBig.message).toBe(
			'This request could use up to 5,001 tokens (its prompt plus the longest answer allowed), more than your whole OpenAI tokens-per-hour limit (5,000), so waiting will not help. Ask for a shorter answer (a lower max_tokens) or shorten the conversation.'
		);
		expect(httpErrorOf(tooBig)).toMatchObject({
			status: 400,
			body: { error: { type: 'invalid_request_error', code: 'request_exceeds_tokens_per_hour', param: 'max_tokens' } }
		});
		// Nothing was counted; a request that fits exactly is admitted.
		expect(await hourRow(userId, '2030-03-03T10:00:00Z')).toBeUndefined();
		const exact = await admit(db, limits, request(userId, { reserveTokens: 5_000, now }));
		const again = await appErrorFrom(admit(db, limits, request(userId, { reserveTokens: 5_001, now })));
		expect(again.reason).toBe('request_exceeds_tokens_per_hour');
		await release(db, exact);
	});

	it('gives the tokens back when the spending cap refuses after the hour took them', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, tokensPerHour: 1_000, dailyCapMicros: 100 };
		const now = at('2030-03-04T10:00:00Z');
		const refused = await appErrorFrom(
			admit(db, limits, request(userId, { reserveMicros: 101, reserveTokens: 900, now }))
		);
		expect(refused.code).toBe('spend_cap_reached');
		expect(await hourRow(userId, '2030-03-04T10:00:00Z')).toEqual({ requests: 1, tokens: 0, reserved_tokens: 0 });
		const admitted = await admit(db, limits, request(userId, { reserveMicros: 100, reserveTokens: 900, now }));
		expect(await hourRow(userId, '2030-03-04T10:00:00Z')).toEqual({ requests: 2, tokens: 0, reserved_tokens: 900 });
		await release(db, admitted);
	});

	it('reclaims the tokens of a request that never settled, and a late settle adds only its real tokens', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, tokensPerHour: 1_000 };
		const started = at('2030-03-05T10:00:00Z');
		const crashed = await admit(db, limits, request(userId, { reserveTokens: 1_000, now: started }));
		expect((await appErrorFrom(admit(db, limits, request(userId, { reserveTokens: 1, now: started })))).reason).toBe(
			'tokens_per_hour'
		);
		const reclaimed = await reclaimExpiredReservations(db, { olderThanSeconds: 900, now: at('2030-03-05T10:16:00Z') });
		expect(reclaimed.filter((r) => r.userId === userId).map((r) => r.reservedTokens)).toEqual([1_000]);
		expect(await hourRow(userId, '2030-03-05T10:00:00Z')).toEqual({ requests: 1, tokens: 0, reserved_tokens: 0 });

		const next = await admit(db, limits, request(userId, { reserveTokens: 600, now: at('2030-03-05T10:17:00Z') }));
		expect((await settle(db, crashed, { costMicros: 1, totalTokens: 300 })).settled).toBe(true);
		expect(await hourRow(userId, '2030-03-05T10:00:00Z')).toEqual({ requests: 2, tokens: 300, reserved_tokens: 600 });
		await release(db, next);
		expect(await hourRow(userId, '2030-03-05T10:00:00Z')).toEqual({ requests: 2, tokens: 300, reserved_tokens: 0 });
	});

	it('starts every hour with the full token limit; a request settles its tokens in the hour it was admitted', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, tokensPerHour: 1_000 };
		const running = await admit(db, limits, request(userId, { reserveTokens: 1_000, now: at('2030-03-06T10:59:00Z') }));
		const refused = await appErrorFrom(
			admit(db, limits, request(userId, { reserveTokens: 10, now: at('2030-03-06T10:59:30Z') }))
		);
		expect(refused.retryAfterSeconds).toBe(30);
		const nextHour = await admit(
			db,
			limits,
			request(userId, { reserveTokens: 1_000, now: at('2030-03-06T11:00:00Z') })
		);
		await settle(db, running, { costMicros: 1, totalTokens: 900 });
		await settle(db, nextHour, { costMicros: 1, totalTokens: 20 });
		expect(await hourRow(userId, '2030-03-06T10:00:00Z')).toEqual({ requests: 1, tokens: 900, reserved_tokens: 0 });
		expect(await hourRow(userId, '2030-03-06T11:00:00Z')).toEqual({ requests: 1, tokens: 20, reserved_tokens: 0 });
	});

	it('reclaims each expired reservation exactly once when several instances reclaim at the same time', async () => {
		const userId = await createUser(db);
		const limits = { ...defaults, dailyCapMicros: 10_000_000, requestsPerHour: 1_000 };
		const started = at('2030-02-10T10:00:00Z');
		const admissions = await Promise.all(
			Array.from({ length: 30 }, () => admit(db, limits, request(userId, { reserveMicros: 10_000, now: started })))
		);
		const later = at('2030-02-10T10:20:00Z');
		const batches = await Promise.all(
			[1, 2, 3].map(() => reclaimExpiredReservations(db, { olderThanSeconds: 900, batchSize: 12, now: later }))
		);
		const again = await reclaimExpiredReservations(db, { olderThanSeconds: 900, now: later });
		const mine = [...batches.flat(), ...again].filter((r) => r.userId === userId).map((r) => r.reservationId);
		expect(new Set(mine).size).toBe(mine.length);
		expect(mine.sort()).toEqual(admissions.map((a) => a.reservationId).sort());
		expect(await spendRow(userId, 'openai', 'user', '2030-02-10')).toEqual({ settled_micros: 0, reserved_micros: 0 });
		expect(await hourRow(userId, '2030-02-10T10:00:00Z')).toEqual({ requests: 30, tokens: 0, reserved_tokens: 0 });
	});

	it('refuses a malformed reservation from the caller as a programming error', async () => {
		const userId = await createUser(db);
		await expect(admit(db, defaults, { ...request(userId), reserveMicros: 1.5 })).rejects.toThrow(TypeError);
		await expect(admit(db, defaults, { ...request(userId), reserveMicros: -1 })).rejects.toThrow(TypeError);
		await expect(admit(db, defaults, { ...request(userId), reserveTokens: 2.5 })).rejects.toThrow(TypeError);
		await expect(admit(db, defaults, { ...request(userId), reserveTokens: -1 })).rejects.toThrow(TypeError);
		const admission = await admit(db, defaults, request(userId, { now: at('2030-02-11T10:00:00Z') }));
		await expect(settle(db, admission, { costMicros: Number.NaN, totalTokens: 1 })).rejects.toThrow(TypeError);
		await release(db, admission);
	});

	it('reclaims dead requests in the background and reports them', async () => {
		const userId = await createUser(db);
		const dead = await admit(db, defaults, request(userId, { reserveMicros: 3_000 }));
		const reported: string[] = [];
		const stop = startLimitsMaintenance(db, {
			intervalMs: 20,
			reclaimAfterSeconds: 0,
			pruneAfterDays: 0,
			onReclaimed: (batch) => {
				reported.push(...batch.filter((r) => r.userId === userId).map((r) => r.requestId));
			}
		});
		try {
			for (let i = 0; i < 250 && reported.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
		} finally {
			await stop();
		}
		expect(reported).toEqual([dead.requestId]);
	});

	// Last: it deletes old rows of every user in this database.
	it('prunes finished history older than the retention, keeping open reservations', async () => {
		const userId = await createUser(db);
		const old = at('2030-01-02T10:00:00Z');
		const finished = await admit(db, defaults, request(userId, { now: old }));
		await settle(db, finished, { costMicros: 5, totalTokens: 5 });
		const open = await admit(db, defaults, request(userId, { now: old }));
		const recent = await admit(db, defaults, request(userId, { now: at('2030-02-20T10:00:00Z') }));
		await settle(db, recent, { costMicros: 5, totalTokens: 5 });

		const pruned = await pruneLimitHistory(db, { olderThanDays: 35, now: at('2030-03-01T00:00:00Z') });
		expect(pruned.reservations).toBeGreaterThanOrEqual(1);
		const left = await db
			.selectFrom('limit_reservations')
			.select('id')
			.where('user_id', '=', userId)
			.orderBy('created_at')
			.execute();
		expect(left.map((r) => r.id)).toEqual([open.reservationId, recent.reservationId]);
		expect(await spendRow(userId, 'openai', 'user', '2030-01-02')).toBeUndefined();
		expect(await spendRow(userId, 'openai', 'user', '2030-02-20')).toEqual({ settled_micros: 5, reserved_micros: 0 });
	});
});
