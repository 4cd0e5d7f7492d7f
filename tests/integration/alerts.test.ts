import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { notify, type NewNotification } from '$lib/server/notifications';
import {
	deliverDueAlerts,
	resealWebhookSecrets,
	RETRY_DELAYS_SECONDS,
	SIGNATURE_HEADER,
	verifySignature
} from '$lib/server/alerts';
import { createKeyring } from '$lib/server/vault';
import { createCaller, type SessionUser } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { recordSecret } from '../helpers/test-output';
import { startMailServer, startReceiver } from '../helpers/alert-receivers';

async function createUser(db: Kysely<Database>): Promise<SessionUser> {
	return db
		.insertInto('users')
		.values({ email: `alerts-${randomUUID().slice(0, 12)}@example.com`, password_hash: 'not used' })
		.returning(['id', 'email', 'role'])
		.executeTakeFirstOrThrow();
}

const capReached = (userId: string): NewNotification => ({
	userId,
	kind: 'cap_100',
	provider: 'openai',
	keySource: 'user',
	windowKey: `daily_cap:${randomUUID()}`,
	message: 'You reached your daily spending cap for OpenAI.'
});

describeEachDatabase('alerts', (database) => {
	let services: Services & { logLines: string[] };
	let db: Kysely<Database>;
	let receiver: Awaited<ReturnType<typeof startReceiver>>;
	let mail: Awaited<ReturnType<typeof startMailServer>>;
	const adminSecret = 'admin-webhook-secret-0123456789';

	beforeAll(async () => {
		receiver = await startReceiver();
		mail = await startMailServer();
		recordSecret(adminSecret);
		services = await testServices(database().handle, {
			SMTP_URL: mail.url,
			MAIL_FROM: 'Latchkey <alerts@latchkey.test>'
		});
		db = services.db;
	});
	afterAll(async () => {
		services?.mailer?.close();
		await receiver?.close();
		await mail?.close();
	});

	const callerFor = (user: SessionUser) =>
		createCaller({ services, user, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
	/** Everything due now, as the periodic worker would send it. */
	const runWorker = (deps: Parameters<typeof deliverDueAlerts>[0] = services) => deliverDueAlerts(deps);
	const makeAllDue = () =>
		sql`update alert_deliveries set next_attempt_at = now() where status = 'pending'`.execute(db);

	it('POSTs each notification to the webhook, signed with the secret shown once', async () => {
		const user = await createUser(db);
		const caller = callerFor(user);
		const { secret } = await caller.alerts.setWebhook({ url: receiver.url });
		if (!secret) throw new Error('the first webhook address must come with a secret');
		recordSecret(secret);
		expect(await caller.alerts.get()).toEqual({
			webhookUrl: receiver.url,
			hasSecret: true,
			emailEnabled: false,
			emailAvailable: true
		});
		// Changing the address keeps the secret, and does not show it again.
		expect((await caller.alerts.setWebhook({ url: receiver.url })).secret).toBeNull();

		receiver.received.length = 0;
		await notify(db, capReached(user.id));
		expect(await runWorker()).toMatchObject({ claimed: 1, delivered: 1 });

		expect(receiver.received).toHaveLength(1);
		const [request] = receiver.received;
		if (!request) throw new Error('no request');
		expect(request.headers['content-type']).toBe('application/json');
		const header = request.headers[SIGNATURE_HEADER];
		expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
		expect(verifySignature(secret, String(header), request.body)).toBe(true);
		expect(verifySignature(`${secret}x`, String(header), request.body)).toBe(false);
		expect(verifySignature(secret, String(header), `${request.body} `)).toBe(false);
		expect(JSON.parse(request.body)).toMatchObject({
			type: 'notification',
			notification: { kind: 'cap_100', provider: 'openai', message: 'You reached your daily spending cap for OpenAI.' }
		});

		const [delivery] = await caller.alerts.deliveries();
		expect(delivery).toMatchObject({
			channel: 'webhook',
			kind: 'cap_100',
			status: 'delivered',
			attempts: 1,
			lastHttpStatus: 200,
			nextAttemptAt: null,
			tries: [{ attempt: 1, ok: true, httpStatus: 200 }]
		});
		expect(services.logLines.join('\n')).not.toContain(secret);
		const stored = await db
			.selectFrom('alert_settings')
			.selectAll()
			.where('user_id', '=', user.id)
			.executeTakeFirstOrThrow();
		expect(Buffer.from(stored.secret_ciphertext ?? []).toString('latin1')).not.toContain(secret);
	});

	it('retries a failing receiver with backoff, logs every try and gives up after five', async () => {
		const user = await createUser(db);
		const caller = callerFor(user);
		await caller.alerts.setWebhook({ url: receiver.url });
		receiver.received.length = 0;
		receiver.statuses.push(500, 500, 500, 500, 500);
		await notify(db, capReached(user.id));

		for (const [index, delaySeconds] of RETRY_DELAYS_SECONDS.entries()) {
			expect(await runWorker()).toMatchObject({ claimed: 1, retrying: 1 });
			const row = await db
				.selectFrom('alert_deliveries')
				.select([
					'status',
					'attempts',
					'last_http_status',
					sql<number>`extract(epoch from next_attempt_at - now())`.as('wait')
				])
				.where('user_id', '=', user.id)
				.executeTakeFirstOrThrow();
			expect(row).toMatchObject({ status: 'pending', attempts: index + 1, last_http_status: 500 });
			expect(Number(row.wait)).toBeGreaterThan(delaySeconds - 1);
			expect(Number(row.wait)).toBeLessThanOrEqual(delaySeconds);
			// Not due yet: the next run leaves it alone.
			expect((await runWorker()).claimed).toBe(0);
			await makeAllDue();
		}
		expect(await runWorker()).toMatchObject({ claimed: 1, failed: 1 });
		expect(receiver.received).toHaveLength(5);

		const [delivery] = await caller.alerts.deliveries();
		expect(delivery).toMatchObject({ status: 'failed', attempts: 5, lastHttpStatus: 500, nextAttemptAt: null });
		expect(delivery?.lastError).toBe('receiver answered HTTP 500');
		expect(delivery?.tries.map((t) => [t.attempt, t.ok, t.httpStatus])).toEqual([
			[1, false, 500],
			[2, false, 500],
			[3, false, 500],
			[4, false, 500],
			[5, false, 500]
		]);
	});

	it('delivers on a later try once the receiver recovers', async () => {
		const user = await createUser(db);
		const caller = callerFor(user);
		await caller.alerts.setWebhook({ url: receiver.url });
		receiver.statuses.push(503);
		await caller.alerts.test();
		expect(await runWorker()).toMatchObject({ retrying: 1 });
		await makeAllDue();
		expect(await runWorker()).toMatchObject({ delivered: 1 });
		const [delivery] = await caller.alerts.deliveries();
		expect(delivery).toMatchObject({ kind: 'test', status: 'delivered', attempts: 2, lastHttpStatus: 200 });
		expect(delivery?.tries.map((t) => t.httpStatus)).toEqual([503, 200]);
	});

	it('e-mails the notification to the account address over SMTP when opted in', async () => {
		const user = await createUser(db);
		const caller = callerFor(user);
		await notify(db, capReached(user.id));
		await runWorker();
		expect(mail.mails.filter((m) => m.to.includes(user.email))).toHaveLength(0);

		await caller.alerts.setEmail({ enabled: true });
		await notify(db, capReached(user.id));
		expect(await runWorker()).toMatchObject({ claimed: 1, delivered: 1 });
		const received = mail.mails.filter((m) => m.to.includes(user.email));
		expect(received).toHaveLength(1);
		const [message] = received;
		expect(message?.to).toEqual([user.email]);
		expect(message?.from).toBe('alerts@latchkey.test');
		expect(message?.raw).toMatch(/^Subject: Latchkey: Daily spending cap reached$/m);
		expect(message?.raw).toMatch(new RegExp(`^To: ${user.email.replace(/[.]/g, '\\.')}$`, 'm'));
		expect(message?.raw).toContain('You reached your daily spending cap for OpenAI.');
		expect((await caller.alerts.deliveries())[0]).toMatchObject({ channel: 'email', status: 'delivered' });
	});

	it('sends every notification to the admins webhook, naming the user', async () => {
		const adminServices = await testServices(database().handle, {
			ADMIN_WEBHOOK_URL: receiver.url,
			ADMIN_WEBHOOK_SECRET: adminSecret
		});
		const { queueAdminDeliveries } = await import('$lib/server/alerts');
		const user = await createUser(db);
		receiver.received.length = 0;
		await notify(db, capReached(user.id));
		expect(await queueAdminDeliveries(db)).toBeGreaterThanOrEqual(1);
		// Queued once, however often the worker looks.
		expect(await queueAdminDeliveries(db)).toBe(0);
		await deliverDueAlerts(adminServices);
		const mine = receiver.received.filter((r) => r.body.includes(user.id));
		expect(mine).toHaveLength(1);
		const [request] = mine;
		expect(verifySignature(adminSecret, String(request?.headers[SIGNATURE_HEADER]), request?.body ?? '')).toBe(true);
		expect(JSON.parse(request?.body ?? '{}')).toMatchObject({
			type: 'notification',
			user: { id: user.id, email: user.email },
			notification: { kind: 'cap_100' }
		});
		// The admins' deliveries are not in the user's own log.
		expect(await callerFor(user).alerts.deliveries()).toEqual([]);
	});

	it('refuses plain-http addresses other than this machine, and e-mail without SMTP', async () => {
		const user = await createUser(db);
		const caller = callerFor(user);
		await expect(caller.alerts.setWebhook({ url: 'http://example.com/hook' })).rejects.toThrow(/https/);
		await expect(caller.alerts.setWebhook({ url: 'https://user:pw@example.com/hook' })).rejects.toThrow(/passwords/);
		await expect(caller.alerts.test()).rejects.toThrow(/first/);
		await expect(caller.alerts.rotateSecret()).rejects.toThrow(/first/);
		const plain = await testServices(database().handle);
		const plainCaller = createCaller({ services: plain, user, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
		await expect(plainCaller.alerts.setEmail({ enabled: true })).rejects.toThrow(/SMTP/);
	});

	it('a new secret replaces the old one for the next delivery', async () => {
		const user = await createUser(db);
		const caller = callerFor(user);
		const first = await caller.alerts.setWebhook({ url: receiver.url });
		const { secret } = await caller.alerts.rotateSecret();
		recordSecret(secret);
		expect(secret).not.toBe(first.secret);
		receiver.received.length = 0;
		await caller.alerts.test();
		await runWorker();
		const [request] = receiver.received;
		const header = String(request?.headers[SIGNATURE_HEADER]);
		expect(verifySignature(secret, header, request?.body ?? '')).toBe(true);
		expect(verifySignature(first.secret ?? '', header, request?.body ?? '')).toBe(false);
	});

	it('master key rotation re-seals webhook secrets, which then sign under the new key alone', async () => {
		const A = { id: 'alerts-old', key: new Uint8Array(32).fill(0xa7) };
		const B = { id: 'alerts-new', key: new Uint8Array(32).fill(0xb7) };
		const [underA, rotating, onlyB] = await Promise.all([
			createKeyring([A]),
			createKeyring([B, A]),
			createKeyring([B])
		]);
		const user = await createUser(db);
		const caller = createCaller({
			services: { ...services, keyring: underA },
			user,
			sessionId: null,
			ip: '127.0.0.1',
			requestId: 'test'
		});
		const { secret } = await caller.alerts.setWebhook({ url: receiver.url });
		recordSecret(secret);
		const result = await resealWebhookSecrets(db, rotating);
		expect(result.resealed).toBeGreaterThanOrEqual(1);
		expect(result.failedUserIds).not.toContain(user.id);
		const row = await db
			.selectFrom('alert_settings')
			.select('secret_master_key_id')
			.where('user_id', '=', user.id)
			.executeTakeFirstOrThrow();
		expect(row.secret_master_key_id).toBe('alerts-new');

		receiver.received.length = 0;
		await caller.alerts.test();
		await deliverDueAlerts({ ...services, keyring: onlyB });
		const mine = receiver.received.filter((r) => r.body.includes('"type":"test"'));
		expect(mine).toHaveLength(1);
		expect(verifySignature(secret ?? '', String(mine[0]?.headers[SIGNATURE_HEADER]), mine[0]?.body ?? '')).toBe(true);
	});

	it('in production, refuses to POST to an address in a private network', async () => {
		const user = await createUser(db);
		const caller = callerFor(user);
		await caller.alerts.setWebhook({ url: receiver.url });
		receiver.received.length = 0;
		await caller.alerts.test();
		const production = { ...services, config: { ...services.config, env: 'production' as const } };
		await deliverDueAlerts(production);
		expect(receiver.received).toHaveLength(0);
		expect((await caller.alerts.deliveries())[0]).toMatchObject({
			status: 'failed',
			attempts: 1,
			lastError: 'the address is in a private network'
		});
	});
});
