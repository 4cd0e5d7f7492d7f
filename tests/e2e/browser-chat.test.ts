import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { formatUsd } from '$lib/money';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { answerLengths, launchBrowser, recordAnswerLengths, type TestBrowser } from '../helpers/browser';
import { browserSkipReason } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';
const SESSION_COOKIE = 'latchkey_session';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

// Markdown with a code block whose long line must scroll inside the block, not the page.
const MARKDOWN_REPLY = [
	'Keys are **sealed** at rest. Here is how a request is routed, step by step, with your own key first and the app key as a fallback:',
	'',
	'```ts',
	"const source = userKey ? 'user' : 'app'; // a deliberately long line that must scroll inside the code block, never the page",
	'```',
	'',
	'- your key answers when it works',
	'- otherwise the app key answers, within its daily allowance'
].join('\n');
const LONG_REPLY = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');

/** The chat page and the usage dashboard in a real Chromium, against fake providers. */
describe.skipIf(Boolean(browserSkipReason))('chat and usage in the browser', () => {
	let stack: Stack;
	let app: AppServer;
	let fake: FakeProviders;
	let browser: TestBrowser;

	beforeAll(async () => {
		stack = await startStack({ appKeyBehaviour: { behaviour: 'ok', chunkDelayMs: 20 } });
		({ app, fake } = stack);
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	/** A user with an OpenAI key (added over tRPC), signed in in the browser with the same session. */
	async function signInWithOpenAiKey(name: string) {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: `${name}@example.com`, password: 'chat in a browser' });
		const key = testKey('openai', name);
		fake.registerKey('openai', key, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		await browser.context.clearCookies();
		await browser.context.addCookies([{ name: SESSION_COOKIE, value: client.cookie(SESSION_COOKIE)!, url: app.url }]);
		return { client, key };
	}

	const answers = (page: Page) => page.locator('article.assistant');
	const finishedAnswers = (page: Page) => page.locator('article.assistant[aria-busy="false"]');

	async function send(page: Page, text: string) {
		const box = page.getByLabel('Message', { exact: true });
		await box.fill(text);
		await box.press('Enter');
	}

	/** Sends a message and waits until its answer is complete (or failed). */
	async function sendAndWait(page: Page, text: string) {
		const before = await finishedAnswers(page).count();
		await send(page, text);
		await finishedAnswers(page).nth(before).waitFor();
		return answers(page).nth(before);
	}

	async function noHorizontalScroll(page: Page) {
		return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
	}

	describe('with an own OpenAI key', () => {
		let client: TestClient;
		let key: string;
		let conversationUrl: string;

		beforeAll(async () => {
			({ client, key } = await signInWithOpenAiKey('streamer'));
		});

		it('shows which key serves each model in the selector', async () => {
			const { page } = browser;
			await page.goto(`${app.url}/chat`);
			await page.getByText('Start a conversation').waitFor();
			const selector = page.getByRole('combobox', { name: 'Model' });
			expect(await selector.textContent()).toContain('GPT-4o mini');
			expect(await selector.textContent()).toContain('🔑 Your key');

			await selector.click();
			await page.getByRole('listbox').waitFor();
			const badgeOf = (name: string) =>
				page.getByRole('option').filter({ hasText: name }).first().locator('.badge').textContent();
			expect(await badgeOf('GPT-4o mini')).toBe('🔑 Your key');
			expect(await badgeOf('GPT-4.1 mini')).toBe('🔑 Your key');
			expect(await badgeOf('Gemini 2.5 Flash')).toBe('App');
			expect(await badgeOf('Gemini 2.5 Pro')).toBe('App');
			expect(await page.locator('[role="option"][data-model="openai/gpt-4o-mini"]').textContent()).toContain(
				'$0.15 in (cached $0.075) · $0.60 out per 1M tokens'
			);
			await browser.screenshot('chat-01-model-selector');

			// Choosing an app-key model shows the warning; back to the own key, it goes away.
			await page.locator('[role="option"][data-model="openrouter/meta-llama/llama-3.3-70b-instruct"]').click();
			expect(await selector.textContent()).toContain('Llama 3.3 70B Instruct');
			await page.getByRole('status').filter({ hasText: "This will use the app's key" }).waitFor();
			await selector.press('Home');
			await selector.press('Home');
			await selector.press('Enter');
			expect(await selector.textContent()).toContain('GPT-4o mini');
			await page.getByRole('status').filter({ hasText: "This will use the app's key" }).waitFor({ state: 'detached' });
		});

		it('streams the answer as Markdown and shows its key, tokens and cost', async () => {
			const { page } = browser;
			fake.registerKey('openai', key, { behaviour: 'ok', chunkDelayMs: 50, reply: MARKDOWN_REPLY });
			await recordAnswerLengths(page);
			await send(page, 'How are keys routed?');

			// While streaming, the answer grows in place.
			await finishedAnswers(page).first().waitFor();
			const answer = answers(page).first();
			const final = (await answer.locator('.markdown').textContent()) ?? '';
			const lengths = await answerLengths(page);
			expect(lengths.length).toBeGreaterThanOrEqual(3);
			// (Markdown re-renders as it grows, so a length may dip when `**bo` becomes `bold`.)
			expect(lengths[0]!).toBeLessThan(final.length);
			expect(final).toContain('Keys are sealed at rest.');
			expect(await answer.locator('strong').first().textContent()).toBe('sealed');
			expect(await answer.locator('pre code').textContent()).toContain("const source = userKey ? 'user' : 'app';");

			const conversationId = UUID.exec(page.url())?.[0];
			expect(page.url()).toBe(`${app.url}/chat/${conversationId}`);
			const stored = await client.trpc.conversations.get.query({ id: conversationId! });
			const storedAnswer = stored.messages[1]!;
			const meta = (await answer.locator('.meta').textContent()) ?? '';
			expect(meta).toContain('🔑 Your key');
			expect(meta).toContain('GPT-4o mini');
			expect(meta).toContain(`${storedAnswer.promptTokens! + storedAnswer.completionTokens!} tokens`);
			expect(meta).toContain(formatUsd(storedAnswer.costMicros!));
			expect(storedAnswer.costMicros).toBeGreaterThan(0);
			// The new conversation is in the list, current.
			await page
				.getByRole('navigation', { name: 'Conversations' })
				.getByRole('link', { name: 'How are keys routed?' })
				.and(page.locator('[aria-current="page"]'))
				.waitFor();
			conversationUrl = page.url();
			await browser.screenshot('chat-02-streamed-answer');
		});

		it('stops mid-stream and keeps the partial answer', async () => {
			const { page } = browser;
			fake.registerKey('openai', key, { behaviour: 'ok', chunkDelayMs: 200, reply: LONG_REPLY });
			await send(page, 'Count for me');
			const streaming = page.locator('article.assistant[aria-busy="true"] .text');
			await expect.poll(async () => ((await streaming.textContent().catch(() => '')) ?? '').length).toBeGreaterThan(10);
			await page.getByRole('button', { name: 'Stop' }).click();
			const stopped = answers(page).nth(1);
			await stopped.getByText('Stopped. The answer above is incomplete.').waitFor();
			const shown = ((await stopped.locator('.text').textContent()) ?? '').trim();
			expect(shown).toMatch(/^word0 word1/);
			expect(shown.length).toBeLessThan(LONG_REPLY.length);
			// Focus went back to the message box, ready for the next message.
			expect(await page.getByLabel('Message', { exact: true }).evaluate((el) => el === document.activeElement)).toBe(
				true
			);
			await page.getByRole('button', { name: 'Send' }).waitFor();
			await browser.screenshot('chat-03-stopped');

			// The server kept what had streamed, marked as stopped.
			const id = UUID.exec(conversationUrl)![0];
			await expect
				.poll(async () => (await client.trpc.conversations.get.query({ id })).messages.at(-1)?.errorCode)
				.toBe('client_aborted');
			const storedPartial = (await client.trpc.conversations.get.query({ id })).messages.at(-1)!.content;
			expect(LONG_REPLY.startsWith(storedPartial)).toBe(true);
			expect(storedPartial.trim().length).toBeGreaterThanOrEqual(shown.length);
			expect(storedPartial.length).toBeLessThan(LONG_REPLY.length);
		});

		it('shows the history after a reload', async () => {
			const { page } = browser;
			await page.reload();
			await page.getByRole('heading', { name: 'How are keys routed?', level: 1 }).waitFor();
			await answers(page).nth(1).waitFor();
			expect(await page.locator('article.user .text').allTextContents()).toEqual([
				'How are keys routed?',
				'Count for me'
			]);
			expect(await answers(page).first().locator('pre code').textContent()).toContain('const source');
			expect(await answers(page).first().locator('.meta').textContent()).toContain('🔑 Your key');
			await answers(page).nth(1).getByText('Stopped. The answer above is incomplete.').waitFor();
			expect(await answers(page).nth(1).locator('.text').textContent()).toMatch(/^word0 word1/);
			// The conversation's model is selected again.
			expect(await page.getByRole('combobox', { name: 'Model' }).textContent()).toContain('GPT-4o mini');
			await browser.screenshot('chat-04-history-after-reload');
		});

		it('renames the conversation', async () => {
			const { page } = browser;
			const list = page.getByRole('navigation', { name: 'Conversations' });
			await list.getByRole('button', { name: 'Actions for “How are keys routed?”' }).click();
			await list.getByRole('button', { name: 'Rename “How are keys routed?”' }).click();
			const field = list.getByLabel('New title for “How are keys routed?”');
			expect(await field.evaluate((el) => el === document.activeElement)).toBe(true);
			await field.fill('  Key   routing ');
			await field.press('Enter');
			await list.getByRole('link', { name: 'Key routing', exact: true }).waitFor();
			await page.getByRole('heading', { name: 'Key routing', level: 1 }).waitFor();
			// Focus is back on the conversation's actions button.
			expect(
				await list
					.getByRole('button', { name: 'Actions for “Key routing”' })
					.evaluate((el) => el === document.activeElement)
			).toBe(true);
			expect((await client.trpc.conversations.list.query())[0]?.title).toBe('Key routing');

			// An empty title is refused with the server's message, and Escape leaves the title as it was.
			await page.keyboard.press('Enter');
			await list.getByRole('button', { name: 'Rename “Key routing”' }).click();
			await list.getByLabel('New title for “Key routing”').fill('   ');
			await list.getByRole('button', { name: 'Save' }).click();
			await list.getByRole('alert').filter({ hasText: 'Give the conversation a title.' }).waitFor();
			await list.getByLabel('New title for “Key routing”').press('Escape');
			await list.getByRole('link', { name: 'Key routing', exact: true }).waitFor();
			expect(await list.getByRole('alert').count()).toBe(0);
		});

		it('falls back to the app key when the own key is rejected, and says so', async () => {
			const { page } = browser;
			fake.registerKey('openai', key, '401');
			const answer = await sendAndWait(page, 'Still there?');
			await answer
				.locator('.fallback')
				.filter({ hasText: "OpenAI rejected your key (401), so the app's key answered." })
				.waitFor();
			expect(await answer.locator('.meta .badge').textContent()).toBe('App');
			expect(await answer.locator('.text').textContent()).toContain('You said: Still there?');
			await browser.screenshot('chat-05-fallback');
			// The selector now knows the key is invalid: OpenAI models go through the app key.
			await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).textContent()).toContain('App');
			await page.getByRole('status').filter({ hasText: "This will use the app's key" }).waitFor();
		});

		it('deletes the conversation after a confirmation', async () => {
			const { page } = browser;
			const list = page.getByRole('navigation', { name: 'Conversations' });
			await list.getByRole('button', { name: 'Actions for “Key routing”' }).click();
			await list.getByRole('button', { name: 'Delete “Key routing”' }).click();
			await list.getByText('Delete “Key routing” and all its messages?').waitFor();
			await browser.screenshot('chat-06-delete-confirm');
			await list.getByRole('button', { name: 'Cancel' }).click();
			await list.getByText('Delete “Key routing” and all its messages?').waitFor({ state: 'detached' });
			expect(await client.trpc.conversations.list.query()).toHaveLength(1);

			await list.getByRole('button', { name: 'Actions for “Key routing”' }).click();
			await list.getByRole('button', { name: 'Delete “Key routing”' }).click();
			await list.getByRole('button', { name: 'Yes, delete it' }).click();
			await page.waitForURL(`${app.url}/chat`);
			await list.getByText('No conversations yet.').waitFor();
			await page.getByText('Start a conversation').waitFor();
			expect(await client.trpc.conversations.list.query()).toHaveLength(0);
			// Its address is gone for good.
			const gone = await page.goto(conversationUrl);
			expect(gone?.status()).toBe(404);
			await page.getByText('That conversation does not exist.').waitFor();
		});
	});

	describe('at a rate limit', () => {
		let client: TestClient;

		beforeAll(async () => {
			({ client } = await signInWithOpenAiKey('limited'));
			await client.trpc.limits.set.mutate({ provider: 'openai', requestsPerHour: 1 });
		});

		it('falls back when the own key hits its limit, then names the limit and when it resets', async () => {
			const { page } = browser;
			await page.goto(`${app.url}/chat`);
			const first = await sendAndWait(page, 'first');
			expect(await first.locator('.meta .badge').textContent()).toBe('🔑 Your key');
			expect(page.url()).toMatch(UUID);

			// "New chat" from a conversation that was started on this page starts an empty one.
			await page.getByRole('link', { name: 'New chat' }).click();
			await page.getByText('Start a conversation').waitFor();
			await page.getByRole('heading', { name: 'New chat', level: 1 }).waitFor();
			expect(page.url()).toBe(`${app.url}/chat`);
			expect(await answers(page).count()).toBe(0);

			const second = await sendAndWait(page, 'second');
			await second
				.locator('.fallback')
				.filter({ hasText: /requests-per-hour limit.*the app's key answered/ })
				.waitFor();
			expect(await second.locator('.meta .badge').textContent()).toBe('App');

			// Now no key can answer: Send is off and the page says why before anything is sent.
			await page.getByLabel('Message', { exact: true }).fill('third');
			const blocked = page.locator('.composer-dock .blocked');
			await blocked
				.filter({ hasText: /requests-per-hour limit for OpenAI is reached; it resets at \d\d:\d\d UTC/ })
				.waitFor();
			expect(await page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
			await page.getByLabel('Message', { exact: true }).press('Enter');
			expect(await answers(page).count()).toBe(1);
			await browser.screenshot('chat-07-rate-limited');
		});

		it('fits a phone-width screen', async () => {
			const { page } = browser;
			await page.setViewportSize({ width: 390, height: 844 });
			try {
				await page.reload();
				await answers(page).first().waitFor();
				expect(await noHorizontalScroll(page)).toBeLessThanOrEqual(0);
				await browser.screenshot('chat-08-phone');
				await page.getByRole('button', { name: 'Conversations (2)' }).click();
				await page.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name: 'first' }).waitFor();
				expect(await noHorizontalScroll(page)).toBeLessThanOrEqual(0);
				await browser.screenshot('chat-09-phone-conversations');
			} finally {
				await page.setViewportSize({ width: 1280, height: 800 });
			}
		});

		it('shows charts, the cost per model and the limit gauges on the usage page', async () => {
			const { page } = browser;
			// Wait until the usage rows of the three requests are all written.
			let summary = await client.trpc.usage.summary.query();
			await expect
				.poll(async () => {
					const next = await client.trpc.usage.summary.query();
					const stable = next.requests >= 2 && JSON.stringify(next) === JSON.stringify(summary);
					summary = next;
					return stable;
				})
				.toBe(true);
			expect(summary.ownKeyCostMicros).toBeGreaterThan(0);
			expect(summary.appKeyCostMicros).toBeGreaterThan(0);

			await page.goto(`${app.url}/usage`);
			await page.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
			expect(await page.locator('canvas').count()).toBe(2);
			await page.getByRole('img', { name: /^Daily cost over \d+ days/ }).waitFor();
			await page.getByRole('img', { name: /^Requests and tokens per day/ }).waitFor();
			// Chart.js drew something: the canvases have pixels.
			const drawn = await page
				.locator('canvas')
				.first()
				.evaluate((canvas: HTMLCanvasElement) => canvas.width > 0 && canvas.toDataURL().length > 1000);
			expect(drawn).toBe(true);

			const table = page.getByRole('table', { name: 'Usage per provider and model' });
			const total = table.locator('tfoot td.total');
			expect(await total.textContent()).toBe(formatUsd(summary.costMicros));
			const rows = table.locator('tbody tr:not(.provider)');
			expect(await rows.count()).toBe(2);
			expect(await table.getByRole('row', { name: /GPT-4o mini.*🔑 Your key/ }).count()).toBe(1);
			expect(await table.getByRole('row', { name: /GPT-4o mini.*App/ }).count()).toBe(1);
			const savings = page.locator('.stat.savings .stat-value');
			expect(await savings.textContent()).toBe(formatUsd(summary.savingsMicros));

			// The OpenAI gauges: 1 of 1 request this hour on each key.
			const gauges = page.getByRole('meter', { name: 'Requests this hour' });
			expect(await gauges.count()).toBe(8);
			expect(await gauges.first().getAttribute('aria-valuetext')).toBe('1 of 1');
			await browser.screenshot('usage-01-dashboard');

			await page.setViewportSize({ width: 390, height: 844 });
			try {
				await page.reload();
				await page.getByRole('img', { name: /^Daily cost over/ }).waitFor();
				expect(await noHorizontalScroll(page)).toBeLessThanOrEqual(0);
				await browser.screenshot('usage-02-phone');
			} finally {
				await page.setViewportSize({ width: 1280, height: 800 });
			}
		});
	});
});
