import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator } from 'playwright-core';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { launchBrowser, SCREENSHOT_DIR, type TestBrowser } from '../helpers/browser';
import { browserSkipReason, testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';
const EMAIL = 'grace@example.com';
const PASSWORD = 'compiler pioneer';

/** The API keys page in a real Chromium, against the built server and the fake providers. */
describe.skipIf(Boolean(browserSkipReason))(
	`API keys page in the browser [${testDatabaseUrl ? 'postgres' : 'pglite'}]`,
	() => {
		let stack: Stack;
		let app: AppServer;
		let fake: FakeProviders;
		let browser: TestBrowser;
		const firstKey = testKey('openai', 'first');
		const secondKey = testKey('openai', 'second');

		beforeAll(async () => {
			stack = await startStack();
			({ app, fake } = stack);
			browser = await launchBrowser();
		});
		afterAll(async () => {
			await browser?.close();
			await stack?.stop();
		});

		const card = (provider: string): Locator => browser.page.locator(`article[data-provider="${provider}"]`);
		const badgeOf = async (provider: string) => (await card(provider).getByTestId('key-status').textContent())?.trim();
		const keyInput = () => browser.page.locator('#key-secret');
		const statusWith = (text: string | RegExp) => browser.page.getByRole('status').filter({ hasText: text });
		const alertWith = (text: string | RegExp) => browser.page.getByRole('alert').filter({ hasText: text });
		async function openLimits(provider: string) {
			const details = card(provider).locator('details.limits');
			if (!(await details.evaluate((el) => (el as HTMLDetailsElement).open))) await details.locator('summary').click();
		}
		/** No part of any key the test used may be in the page (the last four are fine). */
		async function expectNoKeyMaterial() {
			const html = await browser.page.content();
			for (const key of [firstKey, secondKey]) expect(html).not.toContain(key.slice(0, -4));
		}

		it('adds an OpenAI key, checked live, and shows it as valid with its label and ••••last4', async () => {
			const { page } = browser;
			await page.goto(`${app.url}/signup`);
			await page.getByLabel('Email').fill(EMAIL);
			await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
			await page.getByRole('button', { name: 'Create account' }).click();
			await page.waitForURL(`${app.url}/chat`);
			await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
			await page.waitForURL(`${app.url}/keys`);
			await page.getByRole('heading', { name: 'How your key is protected' }).waitFor();
			for (const provider of ['openai', 'anthropic', 'google', 'openrouter'])
				expect(await badgeOf(provider)).toBe('No key');
			await browser.screenshot('keys-01-empty');

			fake.registerKey('openai', firstKey, 'ok');
			await page.getByLabel('Provider').selectOption('openai');
			await page.getByLabel('Label (optional)').fill('Personal');
			await keyInput().fill(firstKey);
			expect(await keyInput().getAttribute('type')).toBe('password');
			expect(await keyInput().getAttribute('autocomplete')).toBe('off');
			expect(await keyInput().getAttribute('spellcheck')).toBe('false');
			await page.getByRole('button', { name: 'Show key' }).click();
			expect(await keyInput().getAttribute('type')).toBe('text');
			await page.getByRole('button', { name: 'Hide key' }).click();
			expect(await keyInput().getAttribute('type')).toBe('password');
			await page.getByRole('button', { name: 'Save key' }).click();

			await statusWith('Saved: OpenAI accepted this key.').waitFor();
			expect(await badgeOf('openai')).toBe('Valid');
			const text = await card('openai').innerText();
			expect(text).toContain(`••••${firstKey.slice(-4)}`);
			expect(text).toContain('Personal');
			expect(await keyInput().inputValue()).toBe('');
			await expectNoKeyMaterial();
			await browser.screenshot('keys-02-valid');
		});

		it('refuses a key for the wrong provider and a key the provider rejects, storing nothing', async () => {
			const { page } = browser;
			const requestsBefore = fake.requests.length;
			await page.getByLabel('Provider').selectOption('openai');
			await keyInput().fill(testKey('anthropic', 'wrong'));
			await page.getByRole('button', { name: 'Save key' }).click();
			await alertWith('This looks like an Anthropic key, not an OpenAI key.').waitFor();
			expect(await keyInput().getAttribute('aria-invalid')).toBe('true');
			// Refused by its shape, before any provider was asked.
			expect(fake.requests.length).toBe(requestsBefore);
			await browser.screenshot('keys-03-wrong-provider');

			await keyInput().fill(testKey('openai', 'revoked'));
			await page.getByRole('button', { name: 'Save key' }).click();
			await alertWith(/OpenAI rejected this key \(401\).*nothing was saved/).waitFor();
			await browser.screenshot('keys-04-rejected');

			await page.reload();
			expect(await badgeOf('openai')).toBe('Valid');
			expect(await card('openai').innerText()).toContain(`••••${firstKey.slice(-4)}`);
			expect(await badgeOf('anthropic')).toBe('No key');
		});

		it('replaces the key from its card, keeping the label', async () => {
			const { page } = browser;
			fake.registerKey('openai', secondKey, 'ok');
			await card('openai').getByRole('link', { name: 'Replace OpenAI key' }).click();
			await page.waitForURL(/\/keys\?provider=openai#add-key$/);
			await expect.poll(() => keyInput().evaluate((el) => el === document.activeElement)).toBe(true);
			expect(await page.getByLabel('Provider').inputValue()).toBe('openai');
			await page.getByText(`This replaces your current OpenAI key (••••${firstKey.slice(-4)})`).waitFor();
			await keyInput().fill(secondKey);
			await page.getByRole('button', { name: 'Save key' }).click();
			await statusWith(`It replaces your previous key (…${firstKey.slice(-4)}).`).waitFor();
			const text = await card('openai').innerText();
			expect(text).toContain(`••••${secondKey.slice(-4)}`);
			expect(text).toContain('Personal');
			await expectNoKeyMaterial();
		});

		it('marks the key invalid when a test is rejected, with a notification in the bell and a toast', async () => {
			const { page } = browser;
			fake.registerKey('openai', secondKey, '401');
			expect(await page.locator('details.bell summary').getAttribute('aria-label')).toBe('Notifications');
			await card('openai').getByRole('button', { name: 'Test OpenAI key' }).click();
			await card('openai').getByRole('status').filter({ hasText: 'OpenAI rejected this key (401).' }).waitFor();
			expect(await badgeOf('openai')).toBe('Invalid');
			expect(await card('openai').innerText()).toContain('401 Unauthorized');

			const toasts = page.getByRole('status', { name: 'New notifications' });
			await toasts.getByText(/OpenAI rejected your key \(…\w{4}\), so it is marked invalid/).waitFor();
			await page.getByLabel('Notifications, 1 unread').waitFor();
			await browser.screenshot('keys-05-invalid-toast');

			await page.getByLabel('Notifications, 1 unread').click();
			const bell = page.locator('details.bell');
			await bell.getByRole('listitem').filter({ hasText: 'so it is marked invalid' }).waitFor();
			await browser.screenshot('keys-06-bell');
			await bell.getByRole('button', { name: 'Mark all read' }).click();
			await page.getByLabel('Notifications', { exact: true }).waitFor();
			expect(await toasts.getByText('so it is marked invalid').count()).toBe(0);
			await page.keyboard.press('Escape');
			expect(await bell.evaluate((el) => (el as HTMLDetailsElement).open)).toBe(false);

			// Fixed on the provider's side: Test again.
			fake.registerKey('openai', secondKey, 'ok');
			await card('openai').getByRole('button', { name: 'Test OpenAI key' }).click();
			await card('openai').getByRole('status').filter({ hasText: 'OpenAI accepted this key.' }).waitFor();
			expect(await badgeOf('openai')).toBe('Valid');
		});

		it('deactivates and activates the key', async () => {
			await card('openai').getByRole('button', { name: 'Deactivate OpenAI key' }).click();
			await card('openai').getByRole('status').filter({ hasText: 'is switched off' }).waitFor();
			expect(await badgeOf('openai')).toBe('Inactive');
			await browser.screenshot('keys-07-inactive');
			await card('openai').getByRole('button', { name: 'Activate OpenAI key' }).click();
			await card('openai').getByRole('status').filter({ hasText: 'is switched on again' }).waitFor();
			expect(await badgeOf('openai')).toBe('Valid');
		});

		it('turns fallback off and lowers a cap; a cap above the ceiling is refused with the reason', async () => {
			const { page } = browser;
			const toggle = card('openai').getByRole('switch', { name: "Fall back to the app's key" });
			expect(await toggle.getAttribute('aria-checked')).toBe('true');
			await toggle.click();
			await card('openai')
				.getByRole('status')
				.filter({ hasText: "The app's key no longer answers OpenAI models" })
				.waitFor();
			expect(await toggle.getAttribute('aria-checked')).toBe('false');

			await openLimits('openai');
			const ownCap = card('openai').getByLabel('Daily cap on your key (USD)');
			expect(await ownCap.inputValue()).toBe('5.00');
			await ownCap.fill('50');
			await card('openai').getByRole('button', { name: 'Save limits for OpenAI' }).click();
			await card('openai').getByRole('alert').filter({ hasText: 'not raise it above $5.00 (the default)' }).waitFor();
			expect(await ownCap.getAttribute('aria-invalid')).toBe('true');
			await browser.screenshot('keys-08-cap-refused');

			await ownCap.fill('2.50');
			await card('openai').getByRole('button', { name: 'Save limits for OpenAI' }).click();
			await card('openai')
				.getByRole('status')
				.filter({ hasText: 'Saved your OpenAI limits: $2.50 a day on your own key' })
				.waitFor();
			await page.reload();
			expect(await card('openai').getByLabel('Daily cap on your key (USD)').inputValue()).toBe('2.50');
			expect(await card('openai').getByRole('switch').getAttribute('aria-checked')).toBe('false');
			expect(await card('openai').innerText()).toContain('Today $0.00 of $2.50 on your key');

			// Only the changed field became the user's own setting; the others still follow the ceiling.
			const client = new TestClient(app.url);
			await client.trpc.auth.signIn.mutate({ email: EMAIL, password: PASSWORD });
			const openai = (await client.trpc.limits.get.query()).providers.find((p) => p.provider === 'openai');
			const unset = { weeklyCapMicros: null, monthlyCapMicros: null };
			expect(openai?.own.userSetting).toEqual({
				dailyCapMicros: 2_500_000,
				requestsPerHour: null,
				tokensPerHour: null,
				...unset
			});
			expect(openai?.app.userSetting).toEqual({
				dailyCapMicros: null,
				requestsPerHour: null,
				tokensPerHour: null,
				...unset
			});
		});

		it('sets a weekly cap and a model cap, shown against their resets on the keys and usage pages', async () => {
			const { page } = browser;
			await openLimits('openai');
			const weekly = card('openai').getByLabel('Weekly cap on your key (USD)');
			expect(await weekly.inputValue()).toBe('');
			expect(await card('openai').innerText()).toContain('$0.00 this week · no cap');
			await weekly.fill('-3');
			await card('openai').getByRole('button', { name: 'Save limits for OpenAI' }).click();
			await card('openai').getByRole('alert').filter({ hasText: 'weeklyCapUsd must be an amount' }).waitFor();
			expect(await weekly.getAttribute('aria-invalid')).toBe('true');

			await weekly.fill('10');
			await card('openai').getByRole('button', { name: 'Save limits for OpenAI' }).click();
			await card('openai')
				.getByRole('status')
				.filter({ hasText: "$2.50 a day on your own key, $0.50 a day on the app's key, $10.00 a week on your own key" })
				.waitFor();
			await page.reload();
			await openLimits('openai');
			expect(await card('openai').getByLabel('Weekly cap on your key (USD)').inputValue()).toBe('10.00');
			expect(await card('openai').innerText()).toContain('$0.00 this week of $10.00');
			await browser.screenshot('keys-08b-weekly-cap');

			const client = new TestClient(app.url);
			await client.trpc.auth.signIn.mutate({ email: EMAIL, password: PASSWORD });
			const openai = (await client.trpc.limits.get.query()).providers.find((p) => p.provider === 'openai');
			expect(openai?.own).toMatchObject({ weeklyCapMicros: 10_000_000, monthlyCapMicros: null });
			// Only the weekly cap changed: the daily cap set before stays.
			expect(openai?.own.userSetting).toMatchObject({ dailyCapMicros: 2_500_000, weeklyCapMicros: 10_000_000 });

			// A daily cap on one model, set in the same panel.
			await openLimits('openai');
			const modelId = card('openai').getByLabel('Model id');
			await modelId.fill('gpt-4o');
			await card('openai').getByLabel('Daily cap (USD)').fill('0.5');
			await card('openai').getByRole('button', { name: 'Save model cap for OpenAI' }).click();
			await card('openai').getByRole('alert').filter({ hasText: 'model must be a model id' }).waitFor();
			expect(await modelId.getAttribute('aria-invalid')).toBe('true');
			await modelId.fill('openai/gpt-4o');
			await card('openai').getByRole('button', { name: 'Save model cap for OpenAI' }).click();
			await card('openai')
				.getByRole('status')
				.filter({ hasText: 'Saved: at most $0.50 a day on openai/gpt-4o.' })
				.waitFor();
			await card('openai').getByText('$0.00 of $0.50 today · resets 00:00 UTC').waitFor();

			await page.goto(`${app.url}/usage`);
			expect(await page.getByRole('meter', { name: 'openai/gpt-4o' }).getAttribute('aria-valuetext')).toBe(
				'$0.00 of $0.50'
			);
			const meter = page.getByRole('meter', { name: "This week's spending" });
			expect(await meter.getAttribute('aria-valuetext')).toBe('$0.00 of $10.00');
			expect(await page.locator('.resets').innerText()).toMatch(/weekly caps at 00:00 UTC on \d{4}-\d{2}-\d{2}/);
			await page.goto(`${app.url}/keys`);
			await openLimits('openai');
			await card('openai').getByRole('button', { name: 'Remove the cap on openai/gpt-4o' }).click();
			await card('openai').getByRole('status').filter({ hasText: 'Removed the daily cap on openai/gpt-4o.' }).waitFor();
			expect((await client.trpc.limits.get.query()).modelCaps).toEqual([]);
		});

		it('shows the key as paused until 00:00 UTC once today’s own-key cap is reached', async () => {
			const { page } = browser;
			// A chat turn on the user's key, from another session of the same user.
			const client = new TestClient(app.url);
			await client.trpc.auth.signIn.mutate({ email: EMAIL, password: PASSWORD });
			const response = await client.fetch('/api/chat', {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'Hello there' })
			});
			expect(response.headers.get('x-key-source')).toBe('user');
			await response.text();

			// The usage record is written while the last event goes out: it may land just after.
			await expect
				.poll(async () => {
					await page.reload();
					return card('openai').innerText();
				})
				.toMatch(/This month\s+1 request · \$0\.\d+/);
			await openLimits('openai');
			await card('openai').getByLabel('Daily cap on your key (USD)').fill('0.000001');
			await card('openai').getByRole('button', { name: 'Save limits for OpenAI' }).click();
			await card('openai').getByRole('status').filter({ hasText: 'Saved your OpenAI limits' }).waitFor();
			expect(await badgeOf('openai')).toBe('Paused');
			expect(await card('openai').innerText()).toContain('Resumes at 00:00 UTC.');
			await browser.screenshot('keys-09-paused');

			// Back to the most allowed: an emptied field clears the user's own cap.
			await card('openai').getByLabel('Daily cap on your key (USD)').fill('');
			await card('openai').getByRole('button', { name: 'Save limits for OpenAI' }).click();
			await card('openai').getByRole('status').filter({ hasText: '$5.00 a day on your own key' }).waitFor();
			expect(await badgeOf('openai')).toBe('Valid');
		});

		it('removes the key only after confirmation', async () => {
			const { page } = browser;
			const remove = card('openai').locator('summary', { hasText: 'Remove' });
			await remove.click();
			await card('openai').getByText('Remove your OpenAI key').waitFor();
			await browser.screenshot('keys-10-remove-confirm');
			await card('openai').getByRole('button', { name: 'Cancel' }).click();
			await card('openai').getByText('Remove your OpenAI key').waitFor({ state: 'hidden' });
			expect(await badgeOf('openai')).toBe('Valid');

			await remove.click();
			await card('openai').getByRole('button', { name: 'Yes, remove key' }).click();
			const notice = card('openai')
				.getByRole('status')
				.filter({ hasText: `Removed your OpenAI key (…${secondKey.slice(-4)})` });
			await notice.waitFor();
			expect(await badgeOf('openai')).toBe('No key');
			expect(await notice.evaluate((el) => el === document.activeElement)).toBe(true);
			await browser.screenshot('keys-11-removed');
			await page.reload();
			expect(await badgeOf('openai')).toBe('No key');
		});

		it('adds a key with the keyboard only', async () => {
			const { page } = browser;
			const anthropicKey = testKey('anthropic', 'keyboard');
			fake.registerKey('anthropic', anthropicKey, 'ok');
			await page.goto(`${app.url}/keys`);
			let reached = false;
			for (let i = 0; i < 30 && !reached; i++) {
				await page.keyboard.press('Tab');
				reached = await page.evaluate(() => document.activeElement?.id === 'key-provider');
			}
			expect(reached).toBe(true);
			expect(await page.getByLabel('Provider').inputValue()).toBe('openai');
			await page.keyboard.press('ArrowDown');
			expect(await page.getByLabel('Provider').inputValue()).toBe('anthropic');
			await page.keyboard.press('Tab');
			await page.keyboard.type('work');
			await page.keyboard.press('Tab');
			expect(await page.evaluate(() => document.activeElement?.id)).toBe('key-secret');
			await page.keyboard.type(anthropicKey);
			await page.keyboard.press('Enter');
			await statusWith('Saved: Anthropic accepted this key.').waitFor();
			expect(await badgeOf('anthropic')).toBe('Valid');
			expect(await card('anthropic').innerText()).toContain(`••••${anthropicKey.slice(-4)}`);
			expect(await page.content()).not.toContain(anthropicKey.slice(0, -4));
			await browser.screenshot('keys-12-keyboard');
		});

		it('tests the key with the tRPC procedure the page calls, with the outcome the card shows', async () => {
			const client = new TestClient(app.url);
			await client.trpc.auth.signIn.mutate({ email: EMAIL, password: PASSWORD });
			const [anthropic] = await client.trpc.keys.list.query();
			expect(anthropic?.provider).toBe('anthropic');
			const checked = await client.trpc.keys.validate.mutate({ id: anthropic?.id ?? '' });
			expect(checked.notice).toContain('Anthropic accepted this key.');
		});

		it('fits a 390×844 phone screen without horizontal scrolling', async () => {
			const { page } = browser;
			await page.setViewportSize({ width: 390, height: 844 });
			await page.goto(`${app.url}/keys`);
			await page.getByRole('heading', { name: 'Add or replace a key' }).waitFor();
			const overflow = () =>
				page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
			expect(await overflow()).toBe(0);
			await browser.screenshot('keys-13-phone');
			await page.screenshot({ path: join(SCREENSHOT_DIR, 'keys-13-phone-viewport.png') });
			await page.locator('details.bell summary').click();
			await page.locator('details.bell[open]').waitFor();
			expect(await overflow()).toBe(0);
			await page.screenshot({ path: join(SCREENSHOT_DIR, 'keys-14-phone-bell.png') });
		});
	}
);
