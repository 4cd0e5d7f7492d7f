import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppServer } from '../helpers/app-server';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';

/** The built server over HTTP: what any client (browser, curl, SDK) sees. */
describe(`the HTTP surface [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let app: AppServer;
	let dropDatabase: (() => Promise<void>) | undefined;
	/** An admin who counts accounts through the admin view, to prove that bad input created none. */
	let auditor: TestClient;

	beforeAll(async () => {
		const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
		dropDatabase = database?.drop;
		const auditorAccount = { email: 'auditor@example.com', password: 'auditor password 1' };
		app = await startApp({
			databaseUrl: database?.url,
			// Retired: it once made whoever signed up first with a listed address an admin.
			env: { ADMIN_EMAILS: 'root@example.com' },
			admins: [auditorAccount]
		});
		auditor = new TestClient(app.url);
		await auditor.trpc.auth.signIn.mutate(auditorAccount);
	});
	afterAll(async () => {
		await app?.stop();
		await dropDatabase?.();
	});

	const postJson = (client: TestClient, path: string, body: unknown, headers: Record<string, string> = {}) =>
		client.fetch(path, {
			method: 'POST',
			headers: { 'content-type': 'application/json', ...headers },
			body: JSON.stringify(body)
		});

	it('signs up over tRPC with an httpOnly, sameSite=lax session cookie, as a plain user', async () => {
		const client = new TestClient(app.url);
		const response = await postJson(client, '/api/trpc/auth.signUp', {
			json: { email: 'Root@Example.com', password: 'root password 1' }
		});
		expect(response.status).toBe(200);
		const cookie = response.headers.getSetCookie().find((c) => c.startsWith('latchkey_session='));
		expect(cookie).toMatch(/HttpOnly/i);
		expect(cookie).toMatch(/SameSite=Lax/i);
		expect(cookie).toMatch(/Path=\//);
		// Even with an address listed in ADMIN_EMAILS: there is no email verification, so anyone could.
		expect(await client.trpc.auth.me.query()).toMatchObject({ email: 'root@example.com', role: 'user' });
		expect((await client.fetch('/admin')).status).toBe(403);
		expect(app.output()).toContain('ADMIN_EMAILS is no longer read');
	});

	it('signs out over tRPC and the session stops working', async () => {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'leaver@example.com', password: 'leaving soon 123' });
		const stolenCookie = client.cookieHeader();
		await client.trpc.auth.signOut.mutate();
		await expect(client.trpc.auth.me.query()).rejects.toMatchObject({ data: { httpStatus: 401 } });
		const replay = await fetch(`${app.url}/api/trpc/auth.me`, { headers: { cookie: stolenCookie } });
		expect(replay.status).toBe(401);
	});

	const accountCount = async () => (await auditor.trpc.admin.users.query({})).total;

	/** Signing up with this email now works, so the refused attempt left no account behind. */
	async function expectFreshSignUp(email: string, normalised = email.trim().toLowerCase()): Promise<void> {
		const client = new TestClient(app.url);
		const response = await postJson(client, '/api/trpc/auth.signUp', {
			json: { email, password: 'a valid password 1' }
		});
		expect(response.status, await response.clone().text()).toBe(200);
		expect(await client.trpc.auth.me.query()).toMatchObject({ email: normalised });
	}

	it.each([
		['a malformed email', { email: 'no at sign', password: 'long enough password' }, /valid email/],
		['a short password', { email: 'Short.Password@Example.com', password: 'short' }, /at least 12 characters/],
		['a common password', { email: 'common@example.com', password: 'password123456' }, /most common passwords/]
	])('answers %s with a clear 400 and creates nothing', async (_name, input, message) => {
		const before = await accountCount();
		const client = new TestClient(app.url);
		const response = await postJson(client, '/api/trpc/auth.signUp', { json: input });
		expect(response.status).toBe(400);
		const body = (await response.json()) as { error: { json: { message: string } } };
		expect(body.error.json.message).toMatch(message);
		expect(response.headers.getSetCookie().some((c) => c.startsWith('latchkey_session='))).toBe(false);
		expect(await accountCount()).toBe(before);
		if (input.email.includes('@')) {
			await expectFreshSignUp(input.email);
			expect(await accountCount()).toBe(before + 1);
		}
	});

	it('refuses a 1 MB password with 413 before doing any work, and creates nothing', async () => {
		const before = await accountCount();
		const client = new TestClient(app.url);
		const response = await postJson(client, '/api/trpc/auth.signUp', {
			json: { email: 'huge@example.com', password: 'x'.repeat(1_048_576) }
		});
		expect(response.status).toBe(413);
		expect(await accountCount()).toBe(before);
		// The same address, spelled differently, still signs up: no account was made for it.
		await expectFreshSignUp('  HUGE@Example.com ', 'huge@example.com');
		expect(await accountCount()).toBe(before + 1);
	});

	it('answers an unknown tRPC path with 404 and creates nothing', async () => {
		const before = await accountCount();
		const client = new TestClient(app.url);
		expect((await client.fetch('/api/trpc/nothing.here')).status).toBe(404);
		const account = { email: 'unknown-path@example.com', password: 'long enough password' };
		for (const path of ['/api/trpc/nothing.here', '/api/trpc/auth.signUpp', '/api/trpc/auth']) {
			const response = await postJson(client, path, { json: account });
			expect(response.status, path).toBe(404);
		}
		expect(await accountCount()).toBe(before);
		await expectFreshSignUp(account.email);
	});

	it('answers a wrong content type with 415, even for a well-formed body, and creates nothing', async () => {
		const before = await accountCount();
		const client = new TestClient(app.url);
		const account = { email: 'plain-text@example.com', password: 'long enough password' };
		for (const [type, body] of [
			['text/plain', JSON.stringify({ json: account })],
			['application/x-www-form-urlencoded', new URLSearchParams(account).toString()]
		] as const) {
			const response = await client.fetch('/api/trpc/auth.signUp', {
				method: 'POST',
				headers: { 'content-type': type },
				body
			});
			expect(response.status, type).toBe(415);
			expect(await response.json()).toMatchObject({ error: { message: expect.stringMatching(/as JSON/) } });
		}
		expect(client.cookie('latchkey_session')).toBeUndefined();
		expect(await accountCount()).toBe(before);
		await expectFreshSignUp(account.email);
	});

	it.each([
		['a malformed email', 'no at sign', 'long enough password', 400, /valid email/],
		['a short password', 'form-short@example.com', 'short', 400, /at least 12 characters/],
		['an email that is already taken', 'auditor@example.com', 'long enough password', 409, /already/]
	])('shows the sign-up form again with %s, and creates nothing', async (_name, email, password, status, message) => {
		const before = await accountCount();
		const client = new TestClient(app.url);
		const response = await client.fetch('/signup', {
			method: 'POST',
			// A browser without JavaScript: a native form post that asks for HTML.
			headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,application/xhtml+xml' },
			body: new URLSearchParams({ email, password }).toString()
		});
		expect(response.status).toBe(status);
		const html = await response.text();
		expect(html).toMatch(/<p class="alert error" role="alert" id="form-error">[^<]+<\/p>/);
		expect(/id="form-error">([^<]+)</.exec(html)?.[1]).toMatch(message);
		expect(client.cookie('latchkey_session')).toBeUndefined();
		expect(await accountCount()).toBe(before);
		if (email === 'form-short@example.com') await expectFreshSignUp(email);
	});

	it('refuses a 1 MB password on the sign-up form, and creates nothing', async () => {
		const before = await accountCount();
		const client = new TestClient(app.url);
		const response = await client.fetch('/signup', {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,application/xhtml+xml' },
			body: new URLSearchParams({ email: 'huge-form@example.com', password: 'x'.repeat(1_048_576) }).toString()
		});
		expect(response.status).toBe(413);
		expect(client.cookie('latchkey_session')).toBeUndefined();
		expect(await accountCount()).toBe(before);
		await expectFreshSignUp('huge-form@example.com');
	});

	it('refuses cross-site state changes, for JSON and for forms', async () => {
		const client = new TestClient(app.url);
		const json = await postJson(
			client,
			'/api/trpc/auth.signUp',
			{ json: { email: 'csrf@example.com', password: 'long enough password' } },
			{ origin: 'https://evil.example' }
		);
		expect(json.status).toBe(403);
		const form = await client.fetch('/signup', {
			method: 'POST',
			headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
			body: 'email=csrf%40example.com&password=long+enough+password'
		});
		expect(form.status).toBe(403);
		const signIn = await postJson(new TestClient(app.url), '/api/trpc/auth.signIn', {
			json: { email: 'csrf@example.com', password: 'long enough password' }
		});
		expect(signIn.status).toBe(401);
	});

	it('throttles failed sign-ins with 429, retry-after and a clear message', async () => {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'target@example.com', password: 'the real password' });
		const statuses: number[] = [];
		for (let i = 0; i < 6; i++) {
			statuses.push(
				(
					await postJson(client, '/api/trpc/auth.signIn', {
						json: { email: 'target@example.com', password: `guess number ${i}` }
					})
				).status
			);
		}
		expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
		const throttled = await postJson(client, '/api/trpc/auth.signIn', {
			json: { email: 'target@example.com', password: 'the real password' }
		});
		expect(throttled.status).toBe(429);
		expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
		const body = (await throttled.json()) as { error: { json: { message: string } } };
		expect(body.error.json.message).toMatch(/Too many failed sign-in attempts/);
	});

	it('sends security headers and a strict Content-Security-Policy', async () => {
		const response = await fetch(`${app.url}/signin`);
		expect(response.status).toBe(200);
		const csp = response.headers.get('content-security-policy') ?? '';
		expect(csp).toContain("default-src 'self'");
		expect(csp).toContain("frame-ancestors 'none'");
		expect(csp).toMatch(/script-src 'self'( 'sha256-[^']+')*;/);
		expect(response.headers.get('x-content-type-options')).toBe('nosniff');
		expect(response.headers.get('x-frame-options')).toBe('DENY');
		expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
	});

	it('sends signed-out visitors from app pages to sign-in, and keeps non-admins out of admin', async () => {
		const anonymous = await fetch(`${app.url}/keys`, { redirect: 'manual' });
		expect(anonymous.status).toBe(303);
		expect(anonymous.headers.get('location')).toBe('/signin?redirectTo=%2Fkeys');
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'plain@example.com', password: 'plain user pass' });
		expect((await client.fetch('/admin')).status).toBe(403);
	});
});

describe.skipIf(!testDatabaseUrl)('two instances on one empty PostgreSQL', () => {
	it('both come up and the migrations ran once', async () => {
		const database = await createEmptyPostgresDatabase();
		const apps = await Promise.all([startApp({ databaseUrl: database.url }), startApp({ databaseUrl: database.url })]);
		try {
			for (const app of apps) expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
			const applied = apps.map((app) => (app.output().match(/database migrations applied/g) ?? []).length);
			expect(applied.sort()).toEqual([0, 1]);
			// Both serve the same accounts.
			const first = new TestClient(apps[0]!.url);
			await first.trpc.auth.signUp.mutate({ email: 'shared@example.com', password: 'shared password 1' });
			const second = new TestClient(apps[1]!.url);
			expect(
				(await second.trpc.auth.signIn.mutate({ email: 'shared@example.com', password: 'shared password 1' })).email
			).toBe('shared@example.com');
		} finally {
			await Promise.all(apps.map((app) => app.stop()));
			await database.drop();
		}
	});
});

describe('start-up configuration', () => {
	it('refuses to start with a wrong variable and names it', async () => {
		await expect(startApp({ env: { OPENAI_BASE_URL: 'ftp://nope' } })).rejects.toThrow(
			/OPENAI_BASE_URL: expected an http\(s\) URL/
		);
	});

	it('refuses PostgreSQL without a master key', async () => {
		await expect(startApp({ databaseUrl: 'postgres://127.0.0.1:1/none', env: { MASTER_KEYS: '' } })).rejects.toThrow(
			/MASTER_KEYS: required when DATABASE_URL is set/
		);
	});
});
