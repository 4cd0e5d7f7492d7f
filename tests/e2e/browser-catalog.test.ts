import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { browserSkipReason } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

const SESSION_COOKIE = 'latchkey_session';

/** The live catalog in a real Chromium: a model the provider newly lists is found, priced and chosen. */
describe.skipIf(Boolean(browserSkipReason))('the live model catalog in the browser', () => {
	let stack: Stack;
	let app: AppServer;
	let fake: FakeProviders;
	let browser: TestBrowser;

	beforeAll(async () => {
		stack = await startStack({ appKeyBehaviour: 'ok' });
		({ app, fake } = stack);
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	it('finds a newly listed model by searching the selector, with its price and key source, and chats with it', async () => {
		// OpenAI releases a model; the user's key lists it when the key is saved (no deploy, no code).
		fake.addModel('openai', 'gpt-4.1-nano', {
			name: 'GPT-4.1 nano',
			contextLength: 1_047_576,
			inMicrosPerMTok: 100_000,
			outMicrosPerMTok: 400_000
		});
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'catalog@example.com', password: 'a live catalog test' });
		const key = testKey('openai', 'catalog');
		fake.registerKey('openai', key, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		await browser.context.addCookies([{ name: SESSION_COOKIE, value: client.cookie(SESSION_COOKIE)!, url: app.url }]);

		const { page } = browser;
		await page.goto(`${app.url}/chat`);
		await page.getByText('Start a conversation').waitFor();
		const selector = page.getByRole('combobox', { name: 'Model' });
		await selector.click();
		await page.getByRole('searchbox', { name: 'Search models' }).fill('4.1 nano');
		const options = page.getByRole('option');
		expect(await options.count()).toBe(1);
		const option = options.first();
		expect(await option.locator('.name').textContent()).toBe('GPT-4.1 nano');
		expect(await option.locator('.badge').textContent()).toBe('🔑 Your key');
		// The price library's rates for the model, per million tokens, with its cached-input rate.
		expect(await option.textContent()).toContain('$0.10 in (cached $0.025) · $0.40 out per 1M tokens');
		await browser.screenshot('catalog-01-search');
		await option.click();
		expect(await selector.textContent()).toContain('GPT-4.1 nano');
		expect(await page.locator('.details').textContent()).toContain('$0.40 out per 1M tokens');

		const box = page.getByLabel('Message', { exact: true });
		await box.fill('Hello, new model');
		await box.press('Enter');
		const answer = page.locator('article.assistant[aria-busy="false"]').first();
		await answer.waitFor();
		expect(await answer.textContent()).toContain('gpt-4.1-nano');
		expect(await answer.textContent()).toContain('🔑 Your key');
	});
});
