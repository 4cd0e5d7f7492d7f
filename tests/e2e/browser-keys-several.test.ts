import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { browserSkipReason } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

const SESSION_COOKIE = 'latchkey_session';

/** A second key for a provider on the API keys page: added after the first, reordered, pinned. */
describe.skipIf(Boolean(browserSkipReason))('several keys per provider in the browser', () => {
	let stack: Stack;
	let app: AppServer;
	let fake: FakeProviders;
	let browser: TestBrowser;
	const first = testKey('openai', 'first');
	const second = testKey('openai', 'second');

	beforeAll(async () => {
		stack = await startStack();
		({ app, fake } = stack);
		browser = await launchBrowser();
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: 'twokeys@example.com', password: 'two keys are better' });
		fake.registerKey('openai', first, 'ok');
		fake.registerKey('openai', second, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: first, label: 'Work' });
		await browser.context.addCookies([{ name: SESSION_COOKIE, value: client.cookie(SESSION_COOKIE)!, url: app.url }]);
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	it('adds a second key after the first, moves it up and pins it', async () => {
		const { page } = browser;
		await page.goto(`${app.url}/keys?provider=openai`);
		await page.getByLabel('Label').fill('Personal');
		await page.getByLabel('OpenAI API key').fill(second);
		await page.getByLabel('Keep my current OpenAI key and try this one after it').check();
		await page.getByText('This is added after your current OpenAI keys').waitFor();
		await page.getByRole('button', { name: 'Save key' }).click();
		await page.getByRole('status').filter({ hasText: 'Saved' }).first().waitFor();

		const order = page.getByRole('region', { name: 'Your OpenAI keys, in the order they are tried' });
		await order.waitFor();
		const names = () => order.locator('li strong').allTextContents();
		expect(await names()).toEqual([`Work ••••${first.slice(-4)}`, `Personal ••••${second.slice(-4)}`]);

		await order.getByRole('button', { name: `Try Personal ••••${second.slice(-4)} earlier` }).click();
		await expect.poll(names).toEqual([`Personal ••••${second.slice(-4)}`, `Work ••••${first.slice(-4)}`]);

		await order.getByRole('button', { name: 'Always use this key' }).first().click();
		await order.getByText('Always used: nothing after it is tried').waitFor();
		await browser.screenshot('keys-several');
	});
});
