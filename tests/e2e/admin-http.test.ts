import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { parseChatStream } from '$lib/chat/events';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { startApp, type AppServer } from '../helpers/app-server';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { fakeEnv, testKey } from '../integration/keys-fixtures';

const ADMIN = { email: 'boss@example.com', password: 'boss password 123' };
const DEPUTY = { email: 'deputy@example.com', password: 'deputy password 123' };
const today = () => new Date().toISOString().slice(0, 10);

/** Waits until `check` holds (the usage row is written just after the stream ends). */
async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error('timed out waiting for the usage record');
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** The admin console's HTTP surface on the built server: the CSV export and the page guards. */
describe(`admin over HTTP [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let app: AppServer;
	let fake: FakeProviders;
	let dropDatabase: (() => Promise<void>) | undefined;
	let admin: TestClient;
	let alice: TestClient;
	let aliceCostMicros = 0;

	beforeAll(async () => {
		fake = await startFakeProviders();
		const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
		dropDatabase = database?.drop;
		app = await startApp({ databaseUrl: database?.url, env: fakeEnv(fake), admins: [ADMIN, DEPUTY] });
		admin = new TestClient(app.url);
		await admin.trpc.auth.signIn.mutate(ADMIN);

		// Alice chats once with her own OpenAI key, so there is a usage row to export.
		alice = new TestClient(app.url);
		await alice.trpc.auth.signUp.mutate({ email: 'alice@example.com', password: 'alice password 1' });
		const key = testKey('openai', 'alice');
		fake.registerKey('openai', key, 'ok');
		await alice.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		const chat = await alice.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'Hello, finance' })
		});
		for await (const event of parseChatStream(chat.body!))
			if (event.type === 'usage') aliceCostMicros = event.costMicros;
		await waitUntil(async () => (await alice.trpc.usage.summary.query()).requests === 1);
	});
	afterAll(async () => {
		await app?.stop();
		await fake?.close();
		await dropDatabase?.();
	});

	const csvPath = (query: Record<string, string>) => `/api/admin/usage.csv?${new URLSearchParams(query)}`;

	it('refuses the export to a signed-out caller with 401', async () => {
		const response = await fetch(`${app.url}${csvPath({ from: today(), to: today() })}`);
		expect(response.status).toBe(401);
		expect(response.headers.get('content-type')).toMatch(/^application\/json/);
		expect(await response.json()).toMatchObject({ error: { code: 'unauthorized' } });
	});

	it('refuses the export to a non-admin with 403 and audits the attempt', async () => {
		const response = await alice.fetch(csvPath({ from: today(), to: today() }));
		expect(response.status).toBe(403);
		expect(await response.json()).toMatchObject({ error: { code: 'forbidden', message: 'Only admins can do this.' } });
		const audit = await admin.trpc.admin.auditLog.query({ action: 'admin.forbidden', actor: 'alice@example.com' });
		expect(audit.entries[0]).toMatchObject({
			actorEmail: 'alice@example.com',
			ip: expect.any(String),
			details: { path: '/api/admin/usage.csv', method: 'GET' }
		});
	});

	it.each([
		[{ from: '2026-13-01' }, 'from must be a date like 2026-01-31 or a UTC date-time like 2026-01-31T12:00:00Z.'],
		[{ from: '2026-03-01', to: '2026-02-01' }, 'to must be after from.'],
		[{ from: '2024-01-01', to: '2026-01-01' }, 'The period can be at most 366 days; export a longer period in parts.'],
		[{ provider: 'mistral' }, 'provider must be one of openai, anthropic, google, openrouter.'],
		[{ user: 'ghost@example.com' }, 'No user has the email ghost@example.com.']
	])('answers %j with a clear 400', async (query, message) => {
		const response = await admin.fetch(csvPath(query));
		expect(response.status).toBe(400);
		expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', message } });
	});

	it('streams a valid export as an attachment with the usage it records', async () => {
		const response = await admin.fetch(csvPath({ from: today(), to: today(), user: 'alice@example.com' }));
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
		expect(response.headers.get('content-disposition')).toBe(
			`attachment; filename="latchkey-usage-${today()}-${today()}.csv"`
		);
		expect(response.headers.get('cache-control')).toBe('no-store');
		const text = await response.text();
		const rows: Record<string, string>[] = parse(text, { columns: true });
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({
			user_email: 'alice@example.com',
			provider: 'openai',
			model: 'openai/gpt-4o-mini',
			key_source: 'user',
			success: 'true'
		});
		expect(rows[0]!.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
		const [whole = '', fraction = ''] = rows[0]!.cost_usd!.split('.');
		expect(Number(whole) * 1_000_000 + Number(fraction)).toBe(aliceCostMicros);

		const audit = await admin.trpc.admin.auditLog.query({ action: 'usage.export', limit: 1 });
		expect(audit.entries[0]).toMatchObject({
			actorEmail: ADMIN.email,
			subjectEmail: 'alice@example.com',
			details: { rows: 1, completed: true, user: 'alice@example.com' }
		});
	});

	it('serves the admin pages to the admin and answers 403 (audited) to everyone else', async () => {
		for (const path of ['/admin', '/admin/users', '/admin/audit']) {
			expect((await admin.fetch(path)).status).toBe(200);
			expect((await alice.fetch(path)).status).toBe(403);
		}
		const users = await (await admin.fetch('/admin/users?q=alice')).text();
		expect(users).toContain('alice@example.com');
		const audit = await admin.trpc.admin.auditLog.query({ action: 'admin.forbidden', actor: 'alice@example.com' });
		expect(audit.entries.map((e) => e.details.path)).toEqual(
			expect.arrayContaining(['/admin', '/admin/users', '/admin/audit'])
		);
		// Signed out: to sign-in, nothing audited as forbidden.
		const anonymous = await fetch(`${app.url}/admin/users`, { redirect: 'manual' });
		expect(anonymous.status).toBe(303);
	});

	it('refuses the admin console’s mutations to a non-admin', async () => {
		const aliceId = (await alice.trpc.auth.me.query()).id;
		await expect(alice.trpc.admin.disableAllKeys.mutate({ userId: aliceId })).rejects.toMatchObject({
			data: { httpStatus: 403 }
		});
		expect((await alice.trpc.keys.list.query()).every((k) => k.isActive)).toBe(true);
	});

	it('grants admin rights in the console, and a revocation takes effect on the very next request', async () => {
		const aliceId = (await alice.trpc.auth.me.query()).id;
		await admin.trpc.admin.grantAdmin.mutate({ userId: aliceId });
		// Alice's existing session: no new sign-in needed either way.
		expect((await alice.fetch('/admin')).status).toBe(200);
		expect((await alice.trpc.admin.users.query({})).total).toBeGreaterThan(0);

		const deputy = new TestClient(app.url);
		await deputy.trpc.auth.signIn.mutate(DEPUTY);
		expect((await deputy.fetch('/admin/users')).status).toBe(200);
		await admin.trpc.admin.revokeAdmin.mutate({ userId: (await deputy.trpc.auth.me.query()).id });
		expect((await deputy.fetch('/admin/users')).status).toBe(403);
		await expect(deputy.trpc.admin.users.query({})).rejects.toMatchObject({ data: { httpStatus: 403 } });
		expect(await deputy.trpc.auth.me.query()).toMatchObject({ email: DEPUTY.email, role: 'user' });

		await admin.trpc.admin.revokeAdmin.mutate({ userId: aliceId });
		expect((await alice.fetch('/admin')).status).toBe(403);
		const audit = await admin.trpc.admin.auditLog.query({ actor: ADMIN.email });
		expect(audit.entries.slice(0, 3).map((e) => [e.action, e.subjectEmail])).toEqual([
			['admin.revoke', 'alice@example.com'],
			['admin.revoke', DEPUTY.email],
			['admin.grant', 'alice@example.com']
		]);
	});

	it('refuses an admin revoking their own rights in the console', async () => {
		const self = (await admin.trpc.auth.me.query()).id;
		await expect(admin.trpc.admin.revokeAdmin.mutate({ userId: self })).rejects.toMatchObject({
			data: { httpStatus: 409 },
			message: expect.stringContaining('You cannot remove your own admin rights')
		});
		expect((await admin.fetch('/admin')).status).toBe(200);
	});
});
