import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { answerLengths, launchBrowser, recordAnswerLengths, type TestBrowser } from '../helpers/browser';
import { browserSkipReason } from '../helpers/env';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

/**
 * Issue 6's journey in one go, through the UI only: sign up, add an OpenAI key, see "🔑 Your key"
 * in the selector, chat and watch the answer stream, see the cost in the dashboard, break the key
 * and see the fallback message, remove the key and see "App". A screenshot of each page.
 */
describe.skipIf(Boolean(browserSkipReason))('a new user’s journey in the browser', () => {
	let stack: Stack;
	let app: AppServer;
	let fake: FakeProviders;
	let browser: TestBrowser;
	const key = testKey('openai', 'journey');

	beforeAll(async () => {
		stack = await startStack();
		({ app, fake } = stack);
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	const selector = (page: Page) => page.getByRole('combobox', { name: 'Model' });
	const answers = (page: Page) => page.locator('article.assistant');
	const finished = (page: Page) => page.locator('article.assistant[aria-busy="false"]');
	const openAICard = (page: Page) => page.locator('article[data-provider="openai"]');

	async function send(page: Page, text: string) {
		const box = page.getByLabel('Message', { exact: true });
		await box.fill(text);
		await box.press('Enter');
	}

	it('signs up and adds an OpenAI key on the API keys page', async () => {
		const { page } = browser;
		await page.goto(`${app.url}/`);
		await browser.screenshot('journey-01-landing');
		await page.getByRole('link', { name: 'Create an account' }).click();
		await page.getByLabel('Email').fill('journey@example.com');
		await page.getByLabel('Password', { exact: true }).fill('a journey of keys');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL(`${app.url}/chat`);

		await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
		fake.registerKey('openai', key, { behaviour: 'ok', chunkDelayMs: 60 });
		// The form hints at each provider's key shape and links to where to get one.
		const hint = page.locator('#key-hint');
		await page.getByLabel('Provider').selectOption('anthropic');
		expect(await hint.textContent()).toContain('Looks like sk-ant-…');
		expect(await hint.getByRole('link').textContent()).toContain('Get a key from Anthropic');
		await page.getByLabel('Provider').selectOption('openai');
		expect(await hint.textContent()).toContain('Looks like sk-…');
		expect(await hint.getByRole('link').textContent()).toContain('Get a key from OpenAI');
		await page.locator('#key-secret').fill(key);
		await page.getByRole('button', { name: 'Save key' }).click();
		await page.getByRole('status').filter({ hasText: 'Saved: OpenAI accepted this key.' }).waitFor();
		expect(await openAICard(page).getByTestId('key-status').textContent()).toContain('Valid');
		expect(await page.content()).not.toContain(key.slice(0, -4));
		await browser.screenshot('journey-02-key-added');
	});

	it('shows "🔑 Your key" for OpenAI in the selector and streams the answer', async () => {
		const { page } = browser;
		await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat' }).click();
		await page.waitForURL(`${app.url}/chat`);
		expect(await selector(page).textContent()).toContain('GPT-4o mini');
		expect(await selector(page).textContent()).toContain('🔑 Your key');
		await browser.screenshot('journey-03-selector');

		await recordAnswerLengths(page);
		await send(page, 'What does Latchkey do?');
		await finished(page).first().waitFor();
		const answer = answers(page).first();
		const text = (await answer.locator('.text').textContent()) ?? '';
		expect(text).toContain('You said: What does Latchkey do?');
		const lengths = await answerLengths(page);
		expect(lengths.length).toBeGreaterThanOrEqual(3);
		expect(lengths.every((length, i) => i === 0 || length > lengths[i - 1]!)).toBe(true);
		expect(lengths.at(-1)!).toBeLessThanOrEqual(text.length);
		const meta = (await answer.locator('.meta').textContent()) ?? '';
		expect(meta).toContain('🔑 Your key');
		expect(meta).toMatch(/\d+ tokens/);
		expect(meta).toMatch(/\$0\.0\d+/);
		await browser.screenshot('journey-04-answer');
	});

	it('shows the cost in the usage dashboard', async () => {
		const { page } = browser;
		await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage' }).click();
		await page.waitForURL(`${app.url}/usage`);
		await page.getByRole('img', { name: /^Daily cost over \d+ days/ }).waitFor();
		// The usage record is written while the last event goes out: reload until it is there.
		const table = page.getByRole('table').filter({ hasText: 'GPT-4o mini' });
		for (let attempt = 0; attempt < 20 && !(await table.isVisible()); attempt++) {
			await page.waitForTimeout(100);
			await page.reload();
		}
		await table.waitFor();
		const row = table.getByRole('row').filter({ hasText: 'GPT-4o mini' }).first();
		expect(await row.textContent()).toMatch(/\$0\.0\d+/);
		expect(await row.textContent()).toContain('🔑 Your key');
		await browser.screenshot('journey-05-usage');
	});

	it('says so when the key breaks and the app key answers', async () => {
		const { page } = browser;
		fake.registerKey('openai', key, '401');
		await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat' }).click();
		await page.waitForURL(`${app.url}/chat`);
		await send(page, 'Are you still there?');
		await finished(page).first().waitFor();
		const answer = answers(page).first();
		await answer
			.locator('.fallback')
			.filter({ hasText: "OpenAI rejected your key (401), so the app's key answered." })
			.waitFor();
		expect(await answer.locator('.meta .badge').textContent()).toBe('App');
		await browser.screenshot('journey-06-fallback');
	});

	it('removes the key, and OpenAI models then show "App"', async () => {
		const { page } = browser;
		await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
		await page.waitForURL(`${app.url}/keys`);
		expect(await openAICard(page).getByTestId('key-status').textContent()).toContain('Invalid');
		await openAICard(page).locator('summary', { hasText: 'Remove' }).click();
		await openAICard(page).getByRole('button', { name: 'Yes, remove key' }).click();
		await openAICard(page).getByRole('status').filter({ hasText: 'Removed your OpenAI key' }).waitFor();
		expect(await openAICard(page).getByTestId('key-status').textContent()).toContain('No key');
		await browser.screenshot('journey-07-key-removed');

		await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat' }).click();
		await page.waitForURL(`${app.url}/chat`);
		expect(await selector(page).textContent()).toContain('GPT-4o mini');
		expect(await selector(page).textContent()).toContain('App');
		expect(await selector(page).textContent()).not.toContain('Your key');
		await browser.screenshot('journey-08-selector-app');
	});
});
