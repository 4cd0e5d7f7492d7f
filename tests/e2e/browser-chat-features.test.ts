import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { browserSkipReason } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

const SESSION_COOKIE = 'latchkey_session';
const CODE = "const answer = 42; // 'quoted' <tags>";
const CODE_REPLY = ['Here is the code:', '', '```js', CODE, '```'].join('\n');
const LONG_REPLY = Array.from({ length: 200 }, (_, i) => `story${i}`).join(' ');
// A 1×1 PNG.
const PIXEL = Buffer.from(
	'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
	'base64'
);

/** What people expect of a chat beyond send-and-read, in a real Chromium against the fake providers. */
describe.skipIf(Boolean(browserSkipReason))('chat features in the browser', () => {
	let stack: Stack;
	let app: AppServer;
	let fake: FakeProviders;
	let browser: TestBrowser;
	let page: Page;
	let key: string;

	beforeAll(async () => {
		stack = await startStack();
		({ app, fake } = stack);
		browser = await launchBrowser();
		page = browser.page;
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'features@example.com', password: 'chat features here' });
		key = testKey('openai', 'features');
		fake.registerKey('openai', key, { behaviour: 'ok', reply: CODE_REPLY });
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		await browser.context.addCookies([{ name: SESSION_COOKIE, value: client.cookie(SESSION_COOKIE)!, url: app.url }]);
		await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	const answers = () => page.locator('article.assistant');
	const questions = () => page.locator('article.user');
	const lastChatBody = () =>
		fake.requests.filter((r) => r.kind === 'chat').at(-1)?.body as { messages: { role: string; content: unknown }[] };

	async function waitForAnswers(count: number) {
		await page
			.locator('article.assistant[aria-busy="false"]')
			.nth(count - 1)
			.waitFor();
	}

	it('starts focused, takes a system prompt and an image, and shows the image in the conversation', async () => {
		await page.goto(`${app.url}/chat`);
		await page.getByRole('heading', { name: 'New chat', level: 1 }).waitFor();
		// Focused once the page has hydrated: the person came to type.
		await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('composer-input');

		await page.getByRole('button', { name: 'System prompt' }).click();
		await page.getByLabel('System prompt for this conversation').fill('Answer in one line.');
		await page.getByRole('button', { name: 'Use for this chat' }).click();
		await page.getByRole('button', { name: 'System prompt (on)' }).waitFor();

		await page.locator('input[type="file"]').setInputFiles({ name: 'pixel.png', mimeType: 'image/png', buffer: PIXEL });
		await page.getByRole('list', { name: 'Attached images' }).getByRole('img', { name: 'pixel.png' }).waitFor();
		await page.getByLabel('Message', { exact: true }).fill('What is in this image?');
		await page.getByLabel('Message', { exact: true }).press('Enter');
		await waitForAnswers(1);
		await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);

		// The provider got the system prompt first and the image with the question.
		const sent = lastChatBody().messages;
		expect(sent[0]).toEqual({ role: 'system', content: 'Answer in one line.' });
		expect(JSON.stringify(sent[1]?.content)).toContain('data:image/png;base64,');
		expect(await questions().first().getByRole('img', { name: 'Attached image 1' }).count()).toBe(1);

		// After a reload the image comes from the server, for its owner.
		await page.reload();
		const image = questions().first().getByRole('img', { name: 'Attached image 1' });
		await image.waitFor();
		await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);
		await browser.screenshot('features-01-image');
	});

	it('highlights code and copies a code block', async () => {
		const block = answers().first().locator('pre');
		expect(await block.locator('.hljs-keyword').first().textContent()).toBe('const');
		await block.getByRole('button', { name: 'Copy code' }).click();
		await block.getByRole('button', { name: 'Copied' }).waitFor();
		expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${CODE}\n`);
	});

	it('regenerates an answer as a second version, and switches between them', async () => {
		fake.registerKey('openai', key, { behaviour: 'ok', reply: 'A second opinion.' });
		await answers().first().getByRole('button', { name: 'Regenerate' }).click();
		await page.getByText('A second opinion.').waitFor();
		await waitForAnswers(1);
		const versions = answers().first().locator('.versions');
		expect(await versions.textContent()).toContain('2 / 2');
		await page.getByRole('button', { name: 'Previous version of this answer' }).click();
		await answers().first().getByText('Here is the code:').waitFor();
		expect(await versions.textContent()).toContain('1 / 2');
		await page.getByRole('button', { name: 'Next version of this answer' }).click();
		await page.getByText('A second opinion.').waitFor();
	});

	it('edits a sent question and resends it as a branch, keeping the original', async () => {
		fake.registerKey('openai', key, { behaviour: 'ok' });
		await questions().first().getByRole('button', { name: 'Edit' }).click();
		await page.getByLabel('Edit your message').fill('What colour is this pixel?');
		await page.getByRole('button', { name: 'Save and send' }).click();
		await answers()
			.first()
			.getByText(/You said: What colour is this pixel\?\[image image\/png 70 bytes\]/)
			.waitFor();
		await waitForAnswers(1);
		expect(await questions().first().locator('.versions').textContent()).toContain('2 / 2');
		await page.getByRole('button', { name: 'Previous version of this question' }).click();
		await questions().first().getByText('What is in this image?').waitFor();
		await page.getByRole('button', { name: 'Next version of this question' }).click();
		await questions().first().getByText('What colour is this pixel?').waitFor();
	});

	it('stops an answer mid-stream and keeps what arrived', async () => {
		fake.registerKey('openai', key, { behaviour: 'ok', reply: LONG_REPLY, chunkDelayMs: 100 });
		await page.getByLabel('Message', { exact: true }).fill('Tell me a long story');
		await page.getByLabel('Message', { exact: true }).press('Enter');
		await answers()
			.nth(1)
			.getByText(/story3/)
			.waitFor();
		await page.getByRole('button', { name: 'Stop' }).click();
		await answers().nth(1).getByText('Stopped. The answer above is incomplete.').waitFor();
		const shown = (await answers().nth(1).locator('.text').textContent()) ?? '';
		expect(shown).toContain('story0');
		expect(shown).not.toContain('story199');
		await page.getByRole('button', { name: 'Send' }).waitFor();
	});

	it('on a phone, an open model list takes taps above the composer', async () => {
		await page.setViewportSize({ width: 375, height: 667 });
		try {
			await page.reload();
			await page.getByRole('combobox', { name: 'Model' }).click();
			const listbox = page.getByRole('listbox');
			await listbox.waitFor();
			// Where the list and the composer overlap on screen, a tap lands in the list.
			const hit = await page.evaluate(() => {
				const list = document.querySelector('[role="listbox"]')!.getBoundingClientRect();
				const dock = document.querySelector('.composer-dock')!.getBoundingClientRect();
				const y = Math.min(list.bottom, window.innerHeight) - 4;
				const element = document.elementFromPoint(list.left + list.width / 2, y);
				return { overlaps: y > dock.top, inList: Boolean(element?.closest('[role="listbox"]')) };
			});
			expect(hit.overlaps).toBe(true);
			expect(hit.inList).toBe(true);
			await browser.screenshot('features-03-phone-selector');
		} finally {
			await page.setViewportSize({ width: 1280, height: 800 });
		}
	});
	it('exports the conversation as Markdown and everything as JSON', async () => {
		const [markdownFile] = await Promise.all([
			page.waitForEvent('download'),
			page.getByRole('link', { name: 'Export as Markdown' }).click()
		]);
		expect(markdownFile.suggestedFilename()).toBe('What is in this image.md');
		const markdown = readFileSync((await markdownFile.path())!, 'utf8');
		expect(markdown).toMatch(/^# What is in this image\?\n/);
		expect(markdown).toContain('**System prompt**\n\n> Answer in one line.');
		// The branch on screen: the edited question, not the original.
		expect(markdown).toContain('## You\n\nWhat colour is this pixel?');
		expect(markdown).not.toContain('## You\n\nWhat is in this image?');
		expect(markdown).toContain('## You\n\nTell me a long story');

		const [jsonFile] = await Promise.all([
			page.waitForEvent('download'),
			page.getByRole('link', { name: 'Export all (JSON)' }).click()
		]);
		const all = JSON.parse(readFileSync((await jsonFile.path())!, 'utf8')) as {
			conversations: { messages: { content: string; images: unknown[] }[] }[];
		};
		expect(all.conversations).toHaveLength(1);
		// Every version is in the JSON, images included.
		const contents = all.conversations[0]!.messages.map((m) => m.content);
		expect(contents).toEqual(expect.arrayContaining(['What is in this image?', 'What colour is this pixel?']));
		expect(all.conversations[0]!.messages[0]!.images).toHaveLength(1);
	});

	it('finds a conversation by a word in a message, then deletes all of them', async () => {
		await page.getByLabel('Search conversations').fill('colour');
		const results = page.getByRole('list', { name: 'Search results' });
		await results.getByRole('link', { name: /What is in this image\?/ }).waitFor();
		expect(await results.textContent()).toContain('colour is this pixel');
		await page.getByLabel('Search conversations').fill('nothing like this');
		await page.getByText('No conversation contains “nothing like this”.').waitFor();
		await page.getByLabel('Search conversations').fill('');

		await page.getByRole('button', { name: 'Delete all conversations' }).click();
		await page.getByRole('button', { name: 'Yes, delete all' }).click();
		await page.waitForURL(`${app.url}/chat`);
		await page.getByText('No conversations yet.').waitFor();
		await browser.screenshot('features-02-deleted');
	});
});
