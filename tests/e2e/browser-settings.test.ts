import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { browserSkipReason, testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';

const TOKEN_SHAPE = /^lk_[A-Za-z0-9]{8}_[A-Za-z0-9]{43}$/;

/** One server for the whole file; each describe signs up its own users. */
let app: AppServer;
let dropDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
	const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
	dropDatabase = database?.drop;
	app = await startApp({ databaseUrl: database?.url });
});
afterAll(async () => {
	await app?.stop();
	await dropDatabase?.();
});

/** The Settings page in a real Chromium: tokens shown once, revoked, and a password change. */
describe.skipIf(Boolean(browserSkipReason))('settings in the browser', () => {
	let browser: TestBrowser;
	beforeAll(async () => {
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
	});

	it('creates a token, shows it once, lists it by prefix and revokes it', async () => {
		const { page, context } = browser;
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Email').fill('ada@example.com');
		await page.getByLabel('Password', { exact: true }).fill('analytical engine');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL(`${app.url}/chat`);

		await page.getByLabel('Account menu').click();
		await page.getByRole('link', { name: 'Settings & access tokens' }).click();
		await page.waitForURL(`${app.url}/settings`);
		await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
		await page.getByText('No access tokens yet.').waitFor();
		await browser.screenshot('settings-01-empty');

		await page.getByLabel('Token name').fill('  laptop ');
		await page.getByLabel('Expires').selectOption({ label: 'In 90 days' });
		await page.getByRole('button', { name: 'Create token' }).click();
		await page.getByRole('heading', { name: 'Token “laptop” created' }).waitFor();
		const field = page.getByLabel('Your new access token');
		const token = await field.inputValue();
		expect(token).toMatch(TOKEN_SHAPE);
		expect(await field.evaluate((element) => element === document.activeElement)).toBe(true);
		await page.getByText('it will not be shown again').waitFor();
		// The create form is ready for another token.
		expect(await page.getByLabel('Token name').inputValue()).toBe('');

		await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
		await page.getByRole('button', { name: 'Copy' }).click();
		await page.getByText('Copied to the clipboard.').waitFor();
		expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);

		const prefix = token.slice(0, 11);
		const row = page.getByRole('row', { name: /laptop/ });
		await row.getByText(`${prefix}…`).waitFor();
		expect(await row.getByText('Active').count()).toBe(1);
		await browser.screenshot('settings-02-token-created');

		await page.reload();
		await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
		expect(await page.getByLabel('Your new access token').count()).toBe(0);
		expect(await page.content()).not.toContain(token.slice(12));
		await page
			.getByRole('row', { name: /laptop/ })
			.getByText(`${prefix}…`)
			.waitFor();
		await browser.screenshot('settings-03-after-reload');

		await page
			.getByRole('row', { name: /laptop/ })
			.locator('summary', { hasText: 'Revoke' })
			.click();
		await page.getByText('Apps using it stop working at once.').waitFor();
		await browser.screenshot('settings-04-revoke-confirm');
		await page.getByRole('button', { name: 'Cancel' }).click();
		await page.getByText('Apps using it stop working at once.').waitFor({ state: 'hidden' });
		await page
			.getByRole('row', { name: /laptop/ })
			.locator('summary', { hasText: 'Revoke' })
			.click();
		await page.getByRole('button', { name: 'Yes, revoke it' }).click();
		await page.getByRole('status').filter({ hasText: 'Revoked “laptop”' }).waitFor();
		await page
			.getByRole('row', { name: /laptop/ })
			.getByText('Revoked', { exact: true })
			.waitFor();
		expect(await page.locator('summary', { hasText: 'Revoke' }).count()).toBe(0);
		await browser.screenshot('settings-05-revoked');
	});

	it('refuses an empty token name with a clear message', async () => {
		const { page } = browser;
		await page.getByLabel('Token name').fill('   ');
		await page.getByRole('button', { name: 'Create token' }).click();
		const alert = page.getByRole('alert').filter({ hasText: 'Give the token a name' });
		await alert.waitFor();
		expect(await page.getByLabel('Token name').getAttribute('aria-invalid')).toBe('true');
	});

	it('creates a token limited to some models with its own budgets, and lists its scope, budget and spend', async () => {
		const { page } = browser;
		await page.getByLabel('Token name').fill('scoped');
		await page.getByLabel(/^Models/).fill('openai/gpt*4o');
		await page.getByRole('button', { name: 'Create token' }).click();
		await page.getByRole('alert').filter({ hasText: 'prefix ending in one "*"' }).waitFor();
		expect(await page.getByLabel(/^Models/).getAttribute('aria-invalid')).toBe('true');

		await page.getByLabel(/^Models/).fill('openai/*  anthropic/claude-sonnet-4*');
		await page.getByLabel(/^Daily budget/).fill('2.50');
		await page.getByLabel(/^Monthly budget/).fill('40');
		await page.getByRole('button', { name: 'Create token' }).click();
		await page.getByRole('heading', { name: 'Token “scoped” created' }).waitFor();
		const row = page.getByRole('row', { name: /scoped/ });
		await row.getByText('openai/*', { exact: true }).waitFor();
		await row.getByText('anthropic/claude-sonnet-4*', { exact: true }).waitFor();
		await row.getByText('$0.00 today of $2.50').waitFor();
		await row.getByText('$0.00 this month of $40.00').waitFor();
		await browser.screenshot('settings-scoped-token');
		// The password test below counts this user's active tokens: leave none behind.
		await row.locator('summary', { hasText: 'Revoke' }).click();
		await page.getByRole('button', { name: 'Yes, revoke it' }).click();
		await page.getByRole('status').filter({ hasText: 'Revoked “scoped”' }).waitFor();
	});

	it('changes the password: other sessions and tokens end, this one stays, the new password signs in', async () => {
		const { page } = browser;
		await page.getByLabel('Token name').fill('ci');
		await page.getByRole('button', { name: 'Create token' }).click();
		await page.getByRole('heading', { name: 'Token “ci” created' }).waitFor();

		// Another device, signed in over HTTP.
		const elsewhere = new TestClient(app.url);
		await elsewhere.trpc.auth.signIn.mutate({ email: 'ada@example.com', password: 'analytical engine' });
		expect((await elsewhere.trpc.auth.me.query()).email).toBe('ada@example.com');

		await page.getByLabel('Current password').fill('not my password');
		await page.getByLabel('New password', { exact: true }).fill('difference engine');
		await page.getByLabel('Confirm new password').fill('difference engine');
		await page.getByRole('button', { name: 'Change password' }).click();
		await page.getByRole('alert').filter({ hasText: 'Your current password is not correct.' }).waitFor();
		expect(await page.getByLabel('Current password').getAttribute('aria-invalid')).toBe('true');
		await browser.screenshot('settings-06-wrong-password');

		await page.getByLabel('Current password').fill('analytical engine');
		await page.getByLabel('New password', { exact: true }).fill('difference engine');
		await page.getByLabel('Confirm new password').fill('difference engine');
		await page.getByRole('button', { name: 'Change password' }).click();
		const done = page.getByRole('status').filter({ hasText: 'Password changed.' });
		await done.waitFor();
		expect(await done.innerText()).toBe(
			'Password changed. 1 other session was signed out and 1 access token was revoked.'
		);
		await page.getByRole('row', { name: /ci/ }).getByText('Revoked', { exact: true }).waitFor();
		await browser.screenshot('settings-07-password-changed');

		await expect(elsewhere.trpc.auth.me.query()).rejects.toMatchObject({ data: { httpStatus: 401 } });
		// This browser is still signed in, on its new session.
		await page.reload();
		await page.getByRole('heading', { name: 'Password' }).waitFor();

		await page.getByLabel('Account menu').click();
		await page.getByRole('button', { name: 'Sign out' }).click();
		await page.waitForURL(/\/signin\?signedOut=1$/);
		await page.getByLabel('Email').fill('ada@example.com');
		await page.getByLabel('Password', { exact: true }).fill('analytical engine');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.getByRole('alert').filter({ hasText: 'That email and password do not match an account.' }).waitFor();
		await page.getByRole('button', { name: 'Sign in' }).and(page.locator(':enabled')).waitFor();
		await page.getByLabel('Password', { exact: true }).fill('difference engine');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL(`${app.url}/chat`);
	});

	it('fits a phone-width screen', async () => {
		const { page } = browser;
		await page.setViewportSize({ width: 390, height: 844 });
		try {
			await page.goto(`${app.url}/settings`);
			await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
			const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
			expect(overflow).toBeLessThanOrEqual(0);
			await browser.screenshot('settings-08-phone');
		} finally {
			await page.setViewportSize({ width: 1280, height: 800 });
		}
	});

	it('signs up without JavaScript; token and password changes are the tRPC procedures the page calls', async () => {
		await browser.context.clearCookies();
		const page = await browser.context.newPage();
		await page.route('**/_app/**/*.js', (route) => route.abort());
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Email').fill('nojs@example.com');
		await page.getByLabel('Password', { exact: true }).fill('no javascript here');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL(`${app.url}/chat`);
		// Without the page's script the changes cannot be made; the buttons say so.
		await page.goto(`${app.url}/settings`);
		expect(await page.getByRole('button', { name: 'Create token' }).isDisabled()).toBe(true);
		await page.close();

		const client = new TestClient(app.url);
		await client.trpc.auth.signIn.mutate({ email: 'nojs@example.com', password: 'no javascript here' });
		const created = await client.fetch('/api/trpc/tokens.create', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ json: { name: 'no script', expiresInDays: 30 } })
		});
		expect(created.headers.get('cache-control')).toBe('no-store');
		const { id, name, token } = (await created.json()).result.data.json as { id: string; name: string; token: string };
		expect(token).toMatch(TOKEN_SHAPE);

		expect(await client.trpc.tokens.revoke.mutate({ id })).toMatchObject({ name, status: 'revoked' });
		await expect(
			client.trpc.auth.changePassword.mutate({
				currentPassword: 'no javascript here',
				newPassword: 'still no javascript',
				confirmPassword: 'still no javascript!'
			})
		).rejects.toMatchObject({
			message: expect.stringContaining('The two new passwords do not match.'),
			data: { details: { field: 'confirmPassword' } }
		});
	});
});

/** The same features as any tRPC client sees them over HTTP. */
describe(`tokens and password change over HTTP [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	it('creates, lists and revokes tokens; the secret appears only in the create answer', async () => {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'http@example.com', password: 'over plain http' });
		const created = await client.trpc.tokens.create.mutate({ name: 'script', expiresInDays: 7 });
		expect(created.token).toMatch(TOKEN_SHAPE);
		expect(created.expiresAt).toBeInstanceOf(Date);

		const listResponse = await client.fetch('/api/trpc/tokens.list');
		expect(listResponse.status).toBe(200);
		const listBody = await listResponse.text();
		expect(listBody).toContain(created.prefix);
		expect(listBody).not.toContain(created.token.slice(12));

		await expect(client.trpc.tokens.create.mutate({ name: '' })).rejects.toMatchObject({
			data: { httpStatus: 400 },
			message: expect.stringMatching(/Give the token a name/)
		});
		expect((await client.trpc.tokens.revoke.mutate({ id: created.id })).status).toBe('revoked');

		const stranger = new TestClient(app.url);
		await stranger.trpc.auth.signUp.mutate({ email: 'stranger@example.com', password: 'not the owner' });
		await expect(stranger.trpc.tokens.revoke.mutate({ id: created.id })).rejects.toMatchObject({
			data: { httpStatus: 404 }
		});
		const anonymous = await new TestClient(app.url).fetch('/api/trpc/tokens.list');
		expect(anonymous.status).toBe(401);
	});

	it('changes the password over tRPC: a new session cookie, the old one stops working', async () => {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'rotate@example.com', password: 'first password' });
		const oldCookie = client.cookieHeader();
		const result = await client.trpc.auth.changePassword.mutate({
			currentPassword: 'first password',
			newPassword: 'second password'
		});
		expect(result).toEqual({ passwordChanged: true, otherSessionsEnded: 0, tokensRevoked: 0 });
		expect(client.cookieHeader()).not.toBe(oldCookie);
		expect((await client.trpc.auth.me.query()).email).toBe('rotate@example.com');
		const replay = await fetch(`${app.url}/api/trpc/auth.me`, { headers: { cookie: oldCookie } });
		expect(replay.status).toBe(401);
	});
});
