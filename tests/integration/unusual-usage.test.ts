import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { insertUsageRecord } from '$lib/server/usage';
import { listNotifications } from '$lib/server/notifications';
import { deliverDueAlerts, notifyUnusualUsage } from '$lib/server/alerts';
import { createCaller, type SessionUser } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { usageRecord } from '../helpers/usage';
import { startReceiver } from '../helpers/alert-receivers';

const HOUR_MS = 3_600_000;

async function createUser(db: Kysely<Database>, role: 'user' | 'admin' = 'user'): Promise<SessionUser> {
	return db
		.insertInto('users')
		.values({ email: `unusual-${randomUUID().slice(0, 12)}@example.com`, password_hash: 'not used', role })
		.returning(['id', 'email', 'role'])
		.executeTakeFirstOrThrow();
}

/** `count` requests of `costMicros` each, `hoursAgo` hours before now (0: within the last hour). */
async function use(db: Kysely<Database>, userId: string, hoursAgo: number, count: number, costMicros: number) {
	const at = new Date(Date.now() - hoursAgo * HOUR_MS - 5 * 60_000);
	for (let i = 0; i < count; i++) await insertUsageRecord(db, usageRecord(userId, { costMicros, createdAt: at }));
}

describeEachDatabase('unusual usage', (database) => {
	let services: Services;
	let db: Kysely<Database>;
	beforeAll(async () => {
		services = await testServices(database().handle);
		db = services.db;
	});

	it('notifies a user whose last hour is over 5x their own 7-day hourly median, once per hour', async () => {
		const spiky = await createUser(db);
		const steady = await createUser(db);
		for (const hoursAgo of [5, 30, 50, 100]) {
			await use(db, spiky.id, hoursAgo, 4, 20_000);
			await use(db, steady.id, hoursAgo, 25, 40_000);
		}
		// Spiky: 30 requests and $1.50 against a median of 4 and $0.08. Steady: as always.
		await use(db, spiky.id, 0, 30, 50_000);
		await use(db, steady.id, 0, 25, 40_000);

		expect(await notifyUnusualUsage(db)).toBe(1);
		expect(await notifyUnusualUsage(db)).toBe(0);
		const [notification] = await listNotifications(db, spiky.id);
		expect(notification).toMatchObject({ kind: 'unusual_usage', provider: 'openai', keySource: 'user' });
		expect(notification?.message).toContain('30 requests and $1.50 in the last hour');
		expect(notification?.message).toContain('4 requests and $0.08');
		expect(await listNotifications(db, steady.id)).toEqual([]);

		const admin = await createUser(db, 'admin');
		const rows = await createCaller({
			services,
			user: admin,
			sessionId: null,
			ip: '127.0.0.1',
			requestId: 'test'
		}).admin.unusualUsage();
		expect(rows.find((r) => r.userId === spiky.id)).toMatchObject({
			email: spiky.email,
			requestsLastHour: 30,
			spendMicrosLastHour: 1_500_000,
			medianRequests: 4,
			activeHours: 4,
			unusual: true
		});
		expect(rows.find((r) => r.userId === steady.id)).toMatchObject({ requestsLastHour: 25, unusual: false });
	});

	it('keeps small numbers quiet and reaches the webhook like any notification', async () => {
		const light = await createUser(db);
		await use(db, light.id, 0, 5, 1_000);
		expect(await notifyUnusualUsage(db)).toBe(0);

		const receiver = await startReceiver();
		try {
			const user = await createUser(db);
			await createCaller({ services, user, sessionId: null, ip: '127.0.0.1', requestId: 'test' }).alerts.setWebhook({
				url: receiver.url
			});
			await use(db, user.id, 0, 40, 100);
			expect(await notifyUnusualUsage(db)).toBe(1);
			await deliverDueAlerts(services);
			expect(receiver.received.map((r) => JSON.parse(r.body).notification.kind)).toEqual(['unusual_usage']);
		} finally {
			await receiver.close();
		}
	});
});
