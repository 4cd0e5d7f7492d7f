import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { admit, LimitRefusal, settle, type AdmitRequest, type Admission, type LimitDefaults } from '$lib/server/limits';
import { listNotifications, notify } from '$lib/server/notifications';
import { createCaller, type SessionUser } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';

async function createUser(db: Kysely<Database>): Promise<SessionUser> {
	return db
		.insertInto('users')
		.values({ email: `notify-${randomUUID().slice(0, 12)}@example.com`, password_hash: 'not used' })
		.returning(['id', 'email', 'role'])
		.executeTakeFirstOrThrow();
}

describeEachDatabase('limit notifications', (database) => {
	let services: Services;
	let db: Kysely<Database>;
	let defaults: LimitDefaults;
	beforeAll(async () => {
		services = await testServices(database().handle);
		db = services.db;
		defaults = services.config.limitDefaults;
	});
	const callerFor = (user: SessionUser) =>
		createCaller({ services, user, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
	// The limits return the thresholds a change crossed; their caller (routing's ledger) sends them.
	async function admitAndNotify(limits: LimitDefaults, request: AdmitRequest): Promise<Admission> {
		try {
			const admission = await admit(db, limits, request);
			await notify(db, [...admission.crossed]);
			return admission;
		} catch (error) {
			if (error instanceof LimitRefusal) await notify(db, [...error.crossed]);
			throw error;
		}
	}
	async function settleAndNotify(admission: Admission, costMicros: number, totalTokens: number) {
		await notify(db, (await settle(db, admission, { costMicros, totalTokens })).crossed);
	}
	const kindsOf = async (userId: string) =>
		(await listNotifications(db, userId, { limit: 200 })).map((n) => `${n.kind} ${n.windowKey}`).sort();

	async function spend(
		userId: string,
		limits: LimitDefaults,
		costMicros: number,
		now: Date,
		keySource: 'user' | 'app' = 'user'
	) {
		const admission = await admitAndNotify(limits, {
			userId,
			provider: 'openai',
			keySource,
			reserveMicros: costMicros,
			reserveTokens: 10,
			requestId: randomUUID(),
			now
		});
		await settleAndNotify(admission, costMicros, 10);
	}

	it('notifies at 80 % and 100 % of a daily cap and when the key pauses, once per day, and again the next day', async () => {
		const user = await createUser(db);
		const limits = { ...defaults, dailyCapMicros: 1_000_000 };
		const day1 = new Date('2030-04-01T09:00:00Z');
		for (let i = 0; i < 7; i++) await spend(user.id, limits, 100_000, day1);
		expect(await kindsOf(user.id)).toEqual([]);
		await spend(user.id, limits, 100_000, day1);
		expect(await kindsOf(user.id)).toEqual(['cap_80 daily_cap:2030-04-01']);
		await spend(user.id, limits, 100_000, day1);
		await spend(user.id, limits, 100_000, day1);
		expect(await kindsOf(user.id)).toEqual([
			'cap_100 daily_cap:2030-04-01',
			'cap_80 daily_cap:2030-04-01',
			'key_paused daily_cap:2030-04-01'
		]);
		// Refusals while paused do not repeat them.
		await expect(spend(user.id, limits, 0, day1)).rejects.toMatchObject({ code: 'spend_cap_reached' });
		await expect(spend(user.id, limits, 0, day1)).rejects.toMatchObject({ code: 'spend_cap_reached' });
		expect(await kindsOf(user.id)).toHaveLength(3);

		const list = await listNotifications(db, user.id);
		expect(list.find((n) => n.kind === 'cap_80')?.message).toBe(
			'You have used 80% of your daily OpenAI spending cap on your own key ($0.80 of $1.00). It resets at 00:00 UTC.'
		);
		expect(list.find((n) => n.kind === 'key_paused')?.message).toBe(
			"Your own OpenAI key is paused until 00:00 UTC: today's spending cap ($1.00) is reached. It resumes by itself."
		);

		const day2 = new Date('2030-04-02T09:00:00Z');
		await spend(user.id, limits, 900_000, day2);
		expect((await kindsOf(user.id)).filter((k) => k.includes('2030-04-02'))).toEqual(['cap_80 daily_cap:2030-04-02']);
	});

	it('notifies at 80 % and 100 % of the hourly request limit once per hour, and again the next hour', async () => {
		const user = await createUser(db);
		const limits = { ...defaults, requestsPerHour: 5 };
		const hour1 = new Date('2030-04-03T10:05:00Z');
		for (let i = 0; i < 3; i++) await spend(user.id, limits, 1, hour1, 'app');
		expect(await kindsOf(user.id)).toEqual([]);
		await spend(user.id, limits, 1, hour1, 'app');
		expect(await kindsOf(user.id)).toEqual(['hourly_80 requests_per_hour:2030-04-03T10:00Z']);
		await spend(user.id, limits, 1, hour1, 'app');
		await expect(spend(user.id, limits, 1, hour1, 'app')).rejects.toMatchObject({ code: 'rate_limited' });
		expect(await kindsOf(user.id)).toEqual([
			'hourly_100 requests_per_hour:2030-04-03T10:00Z',
			'hourly_80 requests_per_hour:2030-04-03T10:00Z'
		]);
		const hundred = (await listNotifications(db, user.id)).find((n) => n.kind === 'hourly_100');
		expect(hundred).toMatchObject({
			keySource: 'app',
			message: "You reached your OpenAI requests-per-hour limit on the app's key (5). It resets at 11:00 UTC."
		});

		const hour2 = new Date('2030-04-03T11:00:00Z');
		for (let i = 0; i < 4; i++) await spend(user.id, limits, 1, hour2, 'app');
		expect(await kindsOf(user.id)).toContain('hourly_80 requests_per_hour:2030-04-03T11:00Z');
	});

	it('notifies at 80 % of the hourly token limit', async () => {
		const user = await createUser(db);
		const limits = { ...defaults, tokensPerHour: 100 };
		const now = new Date('2030-04-04T10:00:00Z');
		const admission = await admitAndNotify(limits, {
			userId: user.id,
			provider: 'openai',
			keySource: 'user',
			reserveMicros: 1,
			reserveTokens: 100,
			requestId: randomUUID(),
			now
		});
		await settleAndNotify(admission, 1, 85);
		expect(await kindsOf(user.id)).toEqual(['hourly_80 tokens_per_hour:2030-04-04T10:00Z']);
	});

	it('sends exactly one 80 % notification when concurrent requests cross it together', async () => {
		const user = await createUser(db);
		const limits = { ...defaults, dailyCapMicros: 1_000_000, requestsPerHour: 1_000 };
		const now = new Date('2030-04-05T10:00:00Z');
		await Promise.all(Array.from({ length: 10 }, () => spend(user.id, limits, 100_000, now)));
		expect(await kindsOf(user.id)).toEqual([
			'cap_100 daily_cap:2030-04-05',
			'cap_80 daily_cap:2030-04-05',
			'key_paused daily_cap:2030-04-05'
		]);
	});

	it('records a key_invalid notification once per window for the routing engine', async () => {
		const user = await createUser(db);
		const note = {
			userId: user.id,
			kind: 'key_invalid' as const,
			provider: 'anthropic' as const,
			keySource: 'user' as const,
			message: 'Anthropic rejected your key (invalid or revoked). Replace it on the Keys page.',
			now: new Date('2030-04-06T10:00:00Z')
		};
		expect(await notify(db, note)).toBe(1);
		expect(await notify(db, note)).toBe(0);
		expect(await kindsOf(user.id)).toEqual(['key_invalid 2030-04-06']);
	});

	it("lists only the caller's notifications and marks them read by id or all at once", async () => {
		const user = await createUser(db);
		const other = await createUser(db);
		const base = {
			kind: 'key_invalid' as const,
			provider: 'openai' as const,
			keySource: 'user' as const,
			message: 'Key rejected.'
		};
		await notify(db, [
			{ ...base, userId: user.id, windowKey: 'k1', now: new Date('2030-04-07T10:00:00Z') },
			{ ...base, userId: user.id, windowKey: 'k2', now: new Date('2030-04-07T11:00:00Z') },
			{ ...base, userId: user.id, windowKey: 'k3', now: new Date('2030-04-07T12:00:00Z') },
			{ ...base, userId: other.id, windowKey: 'k1' }
		]);
		const caller = callerFor(user);
		const all = await caller.notifications.list();
		expect(all.map((n) => n.windowKey)).toEqual(['k3', 'k2', 'k1']);
		const [newest] = all;
		const othersNote = (await listNotifications(db, other.id))[0];
		expect(await caller.notifications.markRead({ ids: [newest!.id, othersNote!.id] })).toEqual({ updated: 1 });
		expect((await listNotifications(db, other.id))[0]?.readAt).toBeNull();
		expect((await caller.notifications.list({ unreadOnly: true })).map((n) => n.windowKey)).toEqual(['k2', 'k1']);
		expect(await caller.notifications.markRead({ all: true })).toEqual({ updated: 2 });
		expect(await caller.notifications.list({ unreadOnly: true })).toEqual([]);
		await expect(caller.notifications.markRead({ ids: ['not-an-id'] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
		await expect(caller.notifications.markRead({ all: false } as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
	});
});
