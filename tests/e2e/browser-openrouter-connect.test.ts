import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { browserSkipReason } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';

const SESSION_COOKIE = 'latchkey_session';

/** "Connect OpenRouter" in a real Chromium: to the (fake) OpenRouter consent page and back with a key. */
describe.skipIf(Boolean(browserSkipReason))('connecting OpenRouter in the browser', () => {
	let stack: Stack;
	let app: AppServer;
	let browser: TestBrowser;

	beforeAll(async () => {
		stack = await startStack();
		({ app } = stack);
		browser = await launchBrowser();
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'oauth@example.com', password: 'connect in one click' });
		await browser.context.addCookies([{ name: SESSION_COOKIE, value: client.cookie(SESSION_COOKIE)!, url: app.url }]);
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	it('approves on OpenRouter and comes back with a working, sealed key', async () => {
		const { page } = browser;
		await page.goto(`${app.url}/keys`);
		await page.getByRole('link', { name: 'Connect OpenRouter' }).click();
		// OpenRouter's page (the fake's), then back.
		await page.getByRole('heading', { name: 'Authorize this app?' }).waitFor();
		await page.getByRole('link', { name: 'Authorize' }).click();
		await page.waitForURL(`${app.url}/keys?openrouter=connected`);
		await page.getByRole('status').filter({ hasText: 'OpenRouter is connected' }).waitFor();
		const card = page.locator('article[data-provider="openrouter"]');
		expect((await card.getByTestId('key-status').textContent())?.trim()).toBe('Valid');
		expect(await card.textContent()).toContain('Connected with OpenRouter');
		await browser.screenshot('keys-openrouter-connected');
	});

	it('says nothing was saved when the person cancels on OpenRouter', async () => {
		const { page } = browser;
		await page.getByRole('link', { name: 'Connect OpenRouter' }).click();
		await page.getByRole('link', { name: 'Cancel' }).click();
		await page.waitForURL(`${app.url}/keys?openrouter=connect_denied`);
		await page.getByRole('alert').filter({ hasText: 'OpenRouter sent no authorization' }).waitFor();
	});
});
