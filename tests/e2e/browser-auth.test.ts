import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { browserSkipReason, testDatabaseUrl } from '../helpers/env';

/** Accounts in a real Chromium: what a person does on the sign-up and sign-in pages. */
describe.skipIf(Boolean(browserSkipReason))('accounts in the browser', () => {
	let app: AppServer;
	let browser: TestBrowser;
	let dropDatabase: (() => Promise<void>) | undefined;

	beforeAll(async () => {
		const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
		dropDatabase = database?.drop;
		app = await startApp({ databaseUrl: database?.url, env: { SIGNIN_MAX_FAILURES_PER_EMAIL_AND_IP: '3' } });
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
		await app?.stop();
		await dropDatabase?.();
	});

	it('signs up, lands in the app shell, signs out and signs back in', async () => {
		const { page } = browser;
		await page.goto(`${app.url}/`);
		await page.getByRole('link', { name: 'Create an account' }).click();
		await page.getByLabel('Email').fill('Ada@Example.com');
		await page.getByLabel('Password', { exact: true }).fill('analytical engine');
		await browser.screenshot('auth-01-signup');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL(`${app.url}/chat`);
		expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents()).toEqual([
			'Chat',
			'API keys',
			'Usage'
		]);
		await page.getByText('Start a conversation').waitFor();
		await browser.screenshot('auth-02-chat-empty');

		await page.getByLabel('Account menu').click();
		await page.getByRole('button', { name: 'Sign out' }).click();
		await page.waitForURL(/\/signin\?signedOut=1$/);
		expect(await page.getByRole('status').textContent()).toBe('You are signed out.');
		await page.goto(`${app.url}/keys`);
		await page.waitForURL(/\/signin\?redirectTo=%2Fkeys$/);

		await page.getByLabel('Email').fill('ada@example.com');
		await page.getByLabel('Password', { exact: true }).fill('analytical engine');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL(`${app.url}/keys`);
		await page.getByRole('heading', { name: 'API keys' }).waitFor();
	});

	it('shows a clear error for a wrong password, then throttles', async () => {
		const { page } = browser;
		await page.context().clearCookies();
		await page.goto(`${app.url}/signin`);
		for (let i = 0; i < 3; i++) {
			await page.getByLabel('Email').fill('ada@example.com');
			await page.getByLabel('Password', { exact: true }).fill(`wrong password ${i}`);
			await page.getByRole('button', { name: 'Sign in' }).click();
			await page.getByRole('alert').filter({ hasText: 'That email and password do not match an account.' }).waitFor();
			await page.getByRole('button', { name: 'Sign in' }).and(page.locator(':enabled')).waitFor();
		}
		await browser.screenshot('auth-03-wrong-password');
		await page.getByLabel('Password', { exact: true }).fill('analytical engine');
		await page.getByRole('button', { name: 'Sign in' }).click();
		const alert = page.getByRole('alert').filter({ hasText: 'Too many failed sign-in attempts' });
		await alert.waitFor();
		expect(await alert.textContent()).toMatch(/^Too many failed sign-in attempts. Try again in \d+ minutes?\.$/);
		await browser.screenshot('auth-04-throttled');
		expect(page.url()).toBe(`${app.url}/signin`);
	});

	it('works without JavaScript (progressive enhancement)', async () => {
		await browser.context.clearCookies();
		const page = await browser.context.newPage();
		// No script of the app ever loads, so the forms post the old-fashioned way.
		await page.route('**/_app/**/*.js', (route) => route.abort());
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Email').fill('nojs@example.com');
		await page.getByLabel('Password', { exact: true }).fill('no javascript here');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL(`${app.url}/chat`);
		await page.getByText('Start a conversation').waitFor();
		await page.close();
	});
	it('keeps what a person typed before the page finished loading', async () => {
		const { page } = browser;
		await page.context().clearCookies();
		// Hold the page's scripts back so the fields are filled before hydration, as on a slow link.
		let release = () => {};
		const scriptsHeld = new Promise<void>((resolve) => (release = resolve));
		await page.route('**/_app/immutable/**', async (route) => {
			await scriptsHeld;
			await route.continue();
		});
		try {
			await page.goto(`${app.url}/signup`, { waitUntil: 'commit' });
			await page.getByLabel('Email').fill('early@example.com');
			await page.getByLabel('Password', { exact: true }).fill('typed before hydration');
			release();
			await page.waitForFunction(() => document.documentElement.dataset.hydrated === 'true');
			expect(await page.getByLabel('Email').inputValue()).toBe('early@example.com');
			await page.getByRole('button', { name: 'Create account' }).click();
			await page.waitForURL(`${app.url}/chat`);
		} finally {
			await page.unrouteAll();
		}
	});
});
