import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator } from 'playwright-core';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { browserSkipReason, testDatabaseUrl } from '../helpers/env';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

const EMAIL = 'katherine@example.com';
const PASSWORD = 'orbital trajectories';

/** A key's expiry on the API keys page, in a real Chromium against the built server. */
describe.skipIf(Boolean(browserSkipReason))(
	`key expiry in the browser [${testDatabaseUrl ? 'postgres' : 'pglite'}]`,
	() => {
		let stack: Stack;
		let app: AppServer;
		let fake: FakeProviders;
		let browser: TestBrowser;
		const key = testKey('anthropic', 'expiry');

		beforeAll(async () => {
			stack = await startStack();
			({ app, fake } = stack);
			browser = await launchBrowser();
		});
		afterAll(async () => {
			await browser?.close();
			await stack?.stop();
		});

		const card = (): Locator => browser.page.locator('article[data-provider="anthropic"]');
		const expiryOnCard = async () => (await card().getByTestId('key-expiry').textContent())?.trim();
		const statusWith = (text: string | RegExp) => browser.page.getByRole('status').filter({ hasText: text });

		it('adds a key that expires in 7 days and shows it on the card', async () => {
			const { page } = browser;
			await page.goto(`${app.url}/signup`);
			await page.getByLabel('Email').fill(EMAIL);
			await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
			await page.getByRole('button', { name: 'Create account' }).click();
			await page.waitForURL(`${app.url}/chat`);
			await page.goto(`${app.url}/keys`);

			fake.registerKey('anthropic', key, 'ok');
			await page.getByLabel('Provider').selectOption('anthropic');
			const expires = page.getByLabel('Expires', { exact: true });
			expect(await expires.inputValue()).toBe('never');
			await expires.selectOption({ label: 'In 7 days' });
			await page.locator('#key-secret').fill(key);
			await page.getByRole('button', { name: 'Save key' }).click();

			await statusWith(/Saved: Anthropic accepted this key\. It expires on \d{4}-\d\d-\d\d \d\d:\d\d UTC\./).waitFor();
			expect(await expiryOnCard()).toBe('Expires in 7 days');
			expect((await card().getByTestId('key-status').textContent())?.trim()).toBe('Valid');
			await browser.screenshot('key-expiry-01-seven-days');
		});

		it('changes the expiry to a date of one’s own, then to none, from the card', async () => {
			const { page } = browser;
			await card().getByText('Change expiry').click();
			await card().getByLabel('New expiry').selectOption({ label: 'On a date…' });
			// Three days and two hours ahead, as the browser's datetime-local field writes it (its time zone).
			const local = await page.evaluate(() => {
				const at = new Date(Date.now() + (3 * 24 + 2) * 3600_000);
				const pad = (n: number) => String(n).padStart(2, '0');
				return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
			});
			await card().getByLabel('Expiry date and time').fill(local);
			await card().getByRole('button', { name: 'Save expiry of the Anthropic key' }).click();
			await statusWith(/Your Anthropic key \(…\w{4}\) now expires on/).waitFor();
			expect(await expiryOnCard()).toBe('Expires in 3 days');

			await card().getByLabel('New expiry').selectOption({ label: 'Does not expire' });
			await card().getByRole('button', { name: 'Save expiry of the Anthropic key' }).click();
			await statusWith('no longer expires').waitFor();
			expect(await expiryOnCard()).toBe('Does not expire');
			await browser.screenshot('key-expiry-02-changed');
		});
	}
);
