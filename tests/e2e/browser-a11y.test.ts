import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChatStream } from '$lib/chat/events';
import { accessibilityViolations } from '../helpers/axe';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { browserSkipReason } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

const ADMIN = { email: 'a11y-admin@example.com', password: 'accessible to all' };

/**
 * Every page, signed out and signed in as an admin with a key, a conversation, usage and a
 * notification, checked by axe-core against WCAG 2.1 A and AA (labels, names, roles, contrast)
 * in the light and the dark colour scheme.
 */
describe.skipIf(Boolean(browserSkipReason))('accessibility of every page (axe-core, WCAG 2.1 AA)', () => {
	let stack: Stack;
	let browser: TestBrowser;
	let conversationId = '';
	let userId = '';

	beforeAll(async () => {
		stack = await startStack({ admins: [ADMIN] });
		const client = new TestClient(stack.app.url);
		await client.trpc.auth.signIn.mutate(ADMIN);
		userId = (await client.trpc.auth.me.query())!.id;
		const key = testKey('openai', 'a11y');
		stack.fake.registerKey('openai', key, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		// A key that the provider rejects leaves an invalid card and a notification in the bell.
		const broken = testKey('anthropic', 'a11y-broken');
		stack.fake.registerKey('anthropic', broken, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'anthropic', apiKey: broken });
		stack.fake.registerKey('anthropic', broken, '401');
		const [anthropicKey] = (await client.trpc.keys.list.query()).filter((k) => k.provider === 'anthropic');
		await client.trpc.keys.validate.mutate({ id: anthropicKey!.id });

		const chat = await client.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({
				model: 'openai/gpt-4o-mini',
				content: 'A list and some code, please: `x`'
			})
		});
		for await (const event of parseChatStream(chat.body!)) {
			if (event.type === 'meta' && event.conversationId) conversationId = event.conversationId;
		}
		expect(conversationId).not.toBe('');
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	/** Each page's violations, prefixed with the page, so one run lists every finding. */
	async function violationsOn(paths: string[], colorScheme: 'light' | 'dark'): Promise<string[]> {
		const { page } = browser;
		await page.emulateMedia({ colorScheme });
		const found: string[] = [];
		for (const path of paths) {
			await page.goto(`${stack.app.url}${path}`);
			await page.waitForLoadState('networkidle');
			found.push(...(await accessibilityViolations(page)).map((v) => `${path}: ${v}`));
		}
		return found;
	}

	for (const colorScheme of ['light', 'dark'] as const) {
		it(`finds nothing on the signed-out pages (${colorScheme})`, async () => {
			await browser.context.clearCookies();
			expect(await violationsOn(['/', '/signin', '/signup'], colorScheme)).toEqual([]);
		});

		it(`finds nothing on the signed-in pages (${colorScheme})`, async () => {
			const { page } = browser;
			await page.goto(`${stack.app.url}/signin`);
			await page.getByLabel('Email').fill(ADMIN.email);
			await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
			await page.getByRole('button', { name: 'Sign in' }).click();
			await page.waitForURL(`${stack.app.url}/chat`);
			const paths = [
				'/chat',
				`/chat/${conversationId}`,
				'/keys',
				'/usage',
				'/settings',
				'/admin',
				'/admin/users',
				`/admin/users/${userId}`,
				'/admin/audit'
			];
			expect(await violationsOn(paths, colorScheme)).toEqual([]);
		});
	}
});
