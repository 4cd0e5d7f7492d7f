import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { createCaller, type SessionUser } from '$lib/server/trpc';
import { admit, release } from '$lib/server/limits';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';

async function createUser(db: Kysely<Database>, role: 'user' | 'admin' = 'user'): Promise<SessionUser> {
	const email = `settings-${randomUUID().slice(0, 12)}@example.com`;
	const row = await db
		.insertInto('users')
		.values({ email, password_hash: 'not used', role })
		.returning(['id', 'email', 'role'])
		.executeTakeFirstOrThrow();
	return row;
}

describeEachDatabase('limit settings (limits.get, limits.set, admin.setLimits)', (database) => {
	let services: Services;
	let db: Kysely<Database>;
	beforeAll(async () => {
		services = await testServices(database().handle);
		db = services.db;
	});
	const callerFor = (user: SessionUser | null) =>
		createCaller({ services, user, sessionId: null, ip: '10.0.0.7', requestId: 'test' });
	const settingsOf = (userId: string) =>
		db
			.selectFrom('limit_settings')
			.selectAll()
			.where('user_id', '=', userId)
			.orderBy('provider')
			.orderBy('key_source')
			.execute();

	it('shows the defaults for all four providers before anything is set', async () => {
		const user = await createUser(db);
		const limits = await callerFor(user).limits.get();
		expect(limits.providers).toHaveLength(4);
		for (const provider of limits.providers) {
			expect(provider.own).toMatchObject({
				requestsPerHour: 100,
				tokensPerHour: 200_000,
				dailyCapMicros: 5_000_000,
				paused: false
			});
			expect(provider.app).toMatchObject({
				requestsPerHour: 100,
				tokensPerHour: 200_000,
				dailyCapMicros: 500_000,
				paused: false
			});
		}
	});

	it('lets a user lower their own limits, and the lower limit is what admission enforces', async () => {
		const user = await createUser(db);
		const limits = await callerFor(user).limits.set({
			provider: 'anthropic',
			requestsPerHour: 2,
			dailyCapUsd: 1.25,
			appDailyCapUsd: 0.1
		});
		const anthropic = limits.providers.find((p) => p.provider === 'anthropic');
		expect(anthropic?.own).toMatchObject({
			requestsPerHour: 2,
			dailyCapMicros: 1_250_000,
			userSetting: { requestsPerHour: 2 }
		});
		expect(anthropic?.app).toMatchObject({ requestsPerHour: 2, dailyCapMicros: 100_000 });
		expect(limits.providers.find((p) => p.provider === 'openai')?.own.requestsPerHour).toBe(100);

		const now = new Date('2030-03-01T10:00:00Z');
		const defaults = services.config.limitDefaults;
		const ask = () =>
			admit(db, defaults, {
				userId: user.id,
				provider: 'anthropic',
				keySource: 'user',
				reserveMicros: 1,
				reserveTokens: 10,
				requestId: randomUUID(),
				now
			});
		const a = await ask();
		const b = await ask();
		await expect(ask()).rejects.toMatchObject({ code: 'rate_limited', message: expect.stringContaining('(2)') });
		await release(db, a);
		await release(db, b);
		await expect(
			admit(db, defaults, {
				userId: user.id,
				provider: 'anthropic',
				keySource: 'app',
				reserveMicros: 100_001,
				reserveTokens: 10,
				requestId: randomUUID(),
				now
			})
		).rejects.toMatchObject({ code: 'spend_cap_reached', reason: 'app_daily_cap' });

		// null clears the user's own setting: back to the default.
		const cleared = await callerFor(user).limits.set({ provider: 'anthropic', requestsPerHour: null });
		expect(cleared.providers.find((p) => p.provider === 'anthropic')?.own.requestsPerHour).toBe(100);
	});

	it('refuses to raise a limit above the default with a clear 400, and changes nothing', async () => {
		const user = await createUser(db);
		await callerFor(user).limits.set({ provider: 'openai', requestsPerHour: 50 });
		const before = await settingsOf(user.id);
		await expect(
			callerFor(user).limits.set({ provider: 'openai', requestsPerHour: 40, dailyCapUsd: 6 })
		).rejects.toMatchObject({
			code: 'BAD_REQUEST',
			message:
				'You can lower your OpenAI daily spending cap on your own key but not raise it above $5.00 (the default). Ask an admin to raise it.'
		});
		expect(await settingsOf(user.id)).toEqual(before);
	});

	it('lets an admin raise a ceiling, lets the user go up to it but not past it, and audits the change', async () => {
		const admin = await createUser(db, 'admin');
		const user = await createUser(db);
		const raised = await callerFor(admin).admin.setLimits({
			userId: user.id,
			provider: 'openai',
			requestsPerHour: 500,
			dailyCapUsd: 20
		});
		const openai = raised.providers.find((p) => p.provider === 'openai');
		expect(openai?.own).toMatchObject({
			requestsPerHour: 500,
			dailyCapMicros: 20_000_000,
			adminCeiling: { requestsPerHour: 500 }
		});
		expect(openai?.app).toMatchObject({ requestsPerHour: 500, dailyCapMicros: 500_000 });

		await callerFor(user).limits.set({ provider: 'openai', requestsPerHour: 300, dailyCapUsd: 20 });
		const before = await settingsOf(user.id);
		await expect(callerFor(user).limits.set({ provider: 'openai', requestsPerHour: 501 })).rejects.toMatchObject({
			code: 'BAD_REQUEST',
			message:
				'You can lower your OpenAI requests-per-hour limit but not raise it above 500 (the limit an admin set). Ask an admin to raise it.'
		});
		expect(await settingsOf(user.id)).toEqual(before);

		// An admin lowering the ceiling below the user's own choice wins.
		const lowered = await callerFor(admin).admin.setLimits({
			userId: user.id,
			provider: 'openai',
			requestsPerHour: 10
		});
		expect(lowered.providers.find((p) => p.provider === 'openai')?.own).toMatchObject({
			requestsPerHour: 10,
			userSetting: { requestsPerHour: 300 }
		});

		const audit = await db
			.selectFrom('audit_log')
			.selectAll()
			.where('subject_user_id', '=', user.id)
			.orderBy('id')
			.execute();
		expect(audit.map((a) => [a.action, a.actor_user_id, a.provider])).toEqual([
			['limits.set_ceiling', admin.id, 'openai'],
			['limits.set_ceiling', admin.id, 'openai']
		]);
		expect(audit[1]?.details).toMatchObject({
			'user.requestsPerHour': 10,
			'user.requestsPerHour.before': 500,
			'app.requestsPerHour': 10
		});
	});

	it('refuses admin.setLimits to a non-admin (FORBIDDEN) and for an unknown user (NOT_FOUND)', async () => {
		const user = await createUser(db);
		const victim = await createUser(db);
		await expect(
			callerFor(user).admin.setLimits({ userId: victim.id, provider: 'openai', requestsPerHour: 100_000 })
		).rejects.toMatchObject({ code: 'FORBIDDEN' });
		await expect(callerFor(null).limits.get()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
		const admin = await createUser(db, 'admin');
		await expect(
			callerFor(admin).admin.setLimits({ userId: randomUUID(), provider: 'openai', requestsPerHour: 5 })
		).rejects.toMatchObject({ code: 'NOT_FOUND' });
		expect(await settingsOf(victim.id)).toEqual([]);
	});

	it.each([
		[
			'a negative number',
			{ provider: 'openai', requestsPerHour: -1 },
			/requestsPerHour must be a whole number from 0 to 1,000,000/
		],
		['NaN', { provider: 'openai', dailyCapUsd: NaN }, /dailyCapUsd must be an amount in US dollars/],
		['a string', { provider: 'openai', tokensPerHour: '1000' }, /tokensPerHour must be a whole number/],
		[
			'1e9 requests',
			{ provider: 'openai', requestsPerHour: 1e9 },
			/requestsPerHour must be a whole number from 0 to 1,000,000/
		],
		[
			'1e9 dollars',
			{ provider: 'openai', appDailyCapUsd: 1e9 },
			/appDailyCapUsd must be an amount in US dollars from 0 to 10,000/
		],
		['too many decimals', { provider: 'openai', dailyCapUsd: 0.1234567 }, /at most 6 decimals/],
		[
			'a fractional request count',
			{ provider: 'openai', requestsPerHour: 1.5 },
			/requestsPerHour must be a whole number/
		],
		['Infinity', { provider: 'openai', dailyCapUsd: Infinity }, /dailyCapUsd must be an amount in US dollars/],
		[
			'an unknown provider',
			{ provider: 'mistral', requestsPerHour: 1 },
			/provider must be one of openai, anthropic, google, openrouter/
		],
		['no provider', { requestsPerHour: 1 }, /provider/],
		['an extra field', { provider: 'openai', requestsPerHour: 1, role: 'admin' }, /Unknown field: role/]
	])('refuses %s in limits.set with a 400 and changes nothing', async (_name, input, message) => {
		const user = await createUser(db);
		await callerFor(user).limits.set({ provider: 'openai', requestsPerHour: 7 });
		const before = await settingsOf(user.id);
		const error = await callerFor(user)
			// Deliberately wrong shapes, as an HTTP client could send them.
			.limits.set(input as never)
			.then(
				() => undefined,
				(e: unknown) => e
			);
		expect(error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(message) });
		expect(await settingsOf(user.id)).toEqual(before);
	});

	it('accepts six decimals and zero', async () => {
		const user = await createUser(db);
		const limits = await callerFor(user).limits.set({ provider: 'google', dailyCapUsd: 0.000001, appDailyCapUsd: 0 });
		const google = limits.providers.find((p) => p.provider === 'google');
		expect(google?.own.dailyCapMicros).toBe(1);
		expect(google?.app.dailyCapMicros).toBe(0);
		expect(google?.app.paused).toBe(true);
		await expect(
			admit(db, services.config.limitDefaults, {
				userId: user.id,
				provider: 'google',
				keySource: 'app',
				reserveMicros: 0,
				reserveTokens: 10,
				requestId: randomUUID()
			})
		).rejects.toMatchObject({
			code: 'spend_cap_reached',
			message:
				"Your daily Google Gemini spending cap on the app's key is $0.00, so requests there are switched off. " +
				'Raise it under Google Gemini limits on the API keys page, or ask an admin if it cannot go higher.',
			// A $0 cap does not reset at midnight: the chat must not say when it does.
			details: expect.not.objectContaining({ resetsAt: expect.anything() })
		});
	});
});
