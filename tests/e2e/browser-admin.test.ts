import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChatStream } from '$lib/chat/events';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { startApp, type AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { browserSkipReason, testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { fakeEnv, testKey } from '../integration/keys-fixtures';

const ADMIN = { email: 'ops@example.com', password: 'operations desk 1' };
const VICTIM = { email: 'leaky@example.com', password: 'leaky password 1' };

/** Waits until `check` holds (the usage row is written just after the stream ends). */
async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error('timed out waiting for the usage record');
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** The admin console in a real Chromium: users, incident response, limits, audit log, CSV download. */
describe.skipIf(Boolean(browserSkipReason))(
	`admin console in the browser [${testDatabaseUrl ? 'postgres' : 'pglite'}]`,
	() => {
		let app: AppServer;
		let fake: FakeProviders;
		let dropDatabase: (() => Promise<void>) | undefined;
		let browser: TestBrowser;
		let victim: TestClient;

		beforeAll(async () => {
			fake = await startFakeProviders();
			const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
			dropDatabase = database?.drop;
			app = await startApp({
				databaseUrl: database?.url,
				env: { ...fakeEnv(fake), APP_DAILY_BUDGET_USD: '25.00' },
				admins: [ADMIN]
			});

			// A user with two keys who has chatted once: the incident.
			victim = new TestClient(app.url);
			await victim.trpc.auth.signUp.mutate(VICTIM);
			for (const provider of ['openai', 'anthropic'] as const) {
				const key = testKey(provider, 'leaky');
				fake.registerKey(provider, key, 'ok');
				await victim.trpc.keys.upsert.mutate({ provider, apiKey: key });
			}
			const chat = await victim.fetch('/api/chat', {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'Something to bill' })
			});
			for await (const event of parseChatStream(chat.body!)) void event;
			await waitUntil(async () => (await victim.trpc.usage.summary.query()).requests === 1);

			browser = await launchBrowser();
		});
		afterAll(async () => {
			await browser?.close();
			await app?.stop();
			await fake?.close();
			await dropDatabase?.();
		});

		it('shows the overview with figures and charts to the admin', async () => {
			const { page } = browser;
			// An operator made this account an admin (`npm run admin -- grant`); signing up never does.
			await page.goto(`${app.url}/signin`);
			await page.getByLabel('Email').fill(ADMIN.email);
			await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
			await page.getByRole('button', { name: 'Sign in' }).click();
			await page.waitForURL(`${app.url}/chat`);

			await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
			await page.waitForURL(`${app.url}/admin`);
			await page.getByRole('heading', { name: 'Admin overview' }).waitFor();
			await page.getByRole('heading', { name: 'BYOK adoption' }).waitFor();
			// One active user (the victim), who holds a valid key.
			expect(await page.locator('.tile', { hasText: 'BYOK adoption' }).locator('.figure').textContent()).toBe('100 %');
			expect(await page.locator('canvas').count()).toBeGreaterThanOrEqual(2);
			// Today's app-key spend against the one budget all users share.
			const budget = page.getByRole('region', { name: 'App key today' });
			expect(await budget.locator('.figure').textContent()).toMatch(/^\$\d+\.\d\d of \$25\.00$/);
			await page.getByRole('link', { name: 'Last 7 days' }).click();
			await page.waitForURL(`${app.url}/admin?days=7`);
			expect(await page.getByRole('link', { name: 'Last 7 days' }).getAttribute('aria-current')).toBe('true');
			await browser.screenshot('admin-01-overview');
		});

		it('finds the user, deactivates all their keys after confirming, and sets a limit', async () => {
			const { page } = browser;
			await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Users' }).click();
			await page.waitForURL(`${app.url}/admin/users`);
			await page.getByLabel('Search by email').fill('leaky');
			await page.getByRole('button', { name: 'Search' }).click();
			await page.waitForURL(`${app.url}/admin/users?q=leaky`);
			const row = page.getByRole('row', { name: /leaky@example\.com/ });
			await row.getByText('OpenAI').waitFor();
			expect(await row.locator('.badge.valid').count()).toBe(2);
			await browser.screenshot('admin-02-users');

			await row.getByRole('link', { name: VICTIM.email }).click();
			await page.getByRole('heading', { name: VICTIM.email }).waitFor();
			await page.getByRole('heading', { name: 'Provider keys' }).waitFor();
			expect(await page.locator('tr[data-key-id] .state.on').count()).toBe(2);

			// One key first, then the rest at once.
			await page.getByRole('button', { name: 'Deactivate the Anthropic key' }).click();
			await page
				.getByRole('status')
				.filter({ hasText: /Switched off the Anthropic key …\w{4}\./ })
				.waitFor();
			expect(await page.locator('tr[data-key-id] .state.off').count()).toBe(1);

			await page.locator('summary', { hasText: 'Deactivate all keys' }).click();
			await page.getByText('Switch off the only active key of').waitFor();
			await browser.screenshot('admin-03-confirm-deactivate-all');
			await page.getByRole('button', { name: 'Yes, deactivate all keys' }).click();
			await page
				.getByRole('status')
				.filter({ hasText: /Switched off 1 key: OpenAI …\w{4}\./ })
				.waitFor();
			expect(await page.locator('tr[data-key-id] .state.off').count()).toBe(2);
			expect(await page.locator('summary', { hasText: 'Deactivate all keys' }).count()).toBe(0);
			expect((await victim.trpc.keys.list.query()).map((k) => k.isActive)).toEqual([false, false]);

			const openai = page.getByRole('group', { name: 'OpenAI' });
			await openai.getByLabel('Requests per hour').fill('-1');
			await openai.getByRole('button', { name: 'Save OpenAI limits' }).click();
			await openai.getByRole('alert').filter({ hasText: 'requestsPerHour must be a whole number' }).waitFor();
			await openai.getByLabel('Requests per hour').fill('42');
			await openai.getByRole('button', { name: 'Save OpenAI limits' }).click();
			await openai.getByRole('status').filter({ hasText: 'Saved the OpenAI limits.' }).waitFor();
			const limits = await victim.trpc.limits.get.query();
			expect(limits.providers.find((p) => p.provider === 'openai')?.own.requestsPerHour).toBe(42);
			expect(await openai.getByLabel('Requests per hour').inputValue()).toBe('42');
			await browser.screenshot('admin-04-user-after-incident');
		});

		it('filters the audit log by action and user', async () => {
			const { page } = browser;
			await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Audit log' }).click();
			await page.waitForURL(`${app.url}/admin/audit`);
			await page.getByLabel('Action').selectOption('key.deactivate');
			await page.getByLabel('Concerning user (email or id)').fill(VICTIM.email);
			await page.getByRole('button', { name: 'Filter' }).click();
			await page.waitForURL(/\/admin\/audit\?action=key\.deactivate/);
			await page.locator('tbody tr').first().waitFor();
			const actions = await page.locator('tbody tr th code').allTextContents();
			expect(actions).toEqual(['key.deactivate', 'key.deactivate']);
			expect(await page.locator('tbody tr .details').allTextContents()).toEqual([
				expect.stringContaining('scope=all'),
				expect.stringContaining('scope=key')
			]);
			expect(await page.locator('tbody tr').first().textContent()).toContain(ADMIN.email);
			expect(await page.getByLabel('Action').inputValue()).toBe('key.deactivate');
			await browser.screenshot('admin-05-audit-filtered');
		});

		it('downloads the usage CSV from the overview', async () => {
			const { page } = browser;
			await page.goto(`${app.url}/admin`);
			await page.getByRole('heading', { name: 'Usage export (CSV)' }).waitFor();
			const [download] = await Promise.all([
				page.waitForEvent('download'),
				page.getByRole('button', { name: 'Download CSV' }).click()
			]);
			expect(download.suggestedFilename()).toMatch(/^latchkey-usage-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
			const path = await download.path();
			const text = readFileSync(path, 'utf8');
			expect(text.split('\r\n')[0]).toBe(
				'timestamp,request_id,user_email,provider,model,key_source,prompt_tokens,completion_tokens,cached_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd,success,error_code,estimated,cost_known'
			);
			expect(text).toContain(VICTIM.email);
			await browser.screenshot('admin-06-after-download');
			// The form is an endpoint, not a page: SvelteKit's router must not look for one.
			expect(app.output()).not.toContain('Not found: /api/admin/usage.csv');
		});

		it('says what is wrong with a bad export on the page, not on a raw JSON page', async () => {
			const { page } = browser;
			await page.goto(`${app.url}/admin`);
			await page.getByRole('heading', { name: 'Usage export (CSV)' }).waitFor();
			await page.locator('#csv-from').fill('2026-03-10');
			await page.locator('#csv-to').fill('2026-03-01');
			await page.getByRole('button', { name: 'Download CSV' }).click();
			const alert = page.locator('#csv-problem');
			await alert.waitFor();
			expect(await alert.textContent()).toContain('is before “From”');
			expect(page.url()).toBe(`${app.url}/admin`);

			await page.locator('#csv-to').fill('2026-03-20');
			await page.getByLabel('User (email or id, optional)').fill('nobody@example.com');
			await page.getByRole('button', { name: 'Download CSV' }).click();
			await page.getByRole('alert').filter({ hasText: 'No user has the email nobody@example.com.' }).waitFor();
			expect(page.url()).toBe(`${app.url}/admin`);
			expect(app.output()).not.toContain('Not found: /api/admin/usage.csv');
		});

		it('grants and revokes admin rights on the user page, never one’s own', async () => {
			const { page } = browser;
			const victimId = (await victim.trpc.auth.me.query()).id;
			await page.goto(`${app.url}/admin/users/${victimId}`);
			const rights = page.locator('section', { has: page.getByRole('heading', { name: 'Admin rights' }) });
			await rights.getByText('This account is a regular user.').waitFor();
			await rights.locator('summary', { hasText: 'Make admin' }).click();
			await rights.getByRole('button', { name: 'Yes, make admin' }).click();
			await rights
				.getByRole('status')
				.filter({ hasText: `${VICTIM.email} is now an admin.` })
				.waitFor();
			await rights.getByText('This account is an admin.').waitFor();
			expect(await victim.trpc.auth.me.query()).toMatchObject({ role: 'admin' });
			await browser.screenshot('admin-06b-granted');

			await rights.locator('summary', { hasText: 'Remove admin rights' }).click();
			await rights.getByRole('button', { name: 'Yes, remove admin rights' }).click();
			await rights
				.getByRole('status')
				.filter({ hasText: `${VICTIM.email} is no longer an admin.` })
				.waitFor();
			expect(await victim.trpc.auth.me.query()).toMatchObject({ role: 'user' });

			// Their own page offers no way to lock themselves out.
			const own = (await page.request.get(`${app.url}/api/trpc/auth.me`).then((r) => r.json())) as {
				result: { data: { json: { id: string } } };
			};
			await page.goto(`${app.url}/admin/users/${own.result.data.json.id}`);
			await rights.getByText('This account is an admin.').waitFor();
			await rights.getByText('You cannot remove your own admin rights; another admin can.').waitFor();
			expect(await rights.locator('summary').count()).toBe(0);
		});

		it('counts one provider’s keys of every user, re-checks them and switches them off after confirming', async () => {
			const { page } = browser;
			const owners: TestClient[] = [];
			for (const name of ['gina', 'gus']) {
				const owner = new TestClient(app.url);
				await owner.trpc.auth.signUp.mutate({ email: `${name}@example.com`, password: `${name} password 1` });
				const key = testKey('google', name);
				fake.registerKey('google', key, 'ok');
				await owner.trpc.keys.upsert.mutate({ provider: 'google', apiKey: key });
				owners.push(owner);
			}
			await page.goto(`${app.url}/admin`);
			const bulk = page.getByRole('region', { name: 'One provider, every user' });
			await bulk.getByLabel('Provider').selectOption('google');
			await bulk.getByRole('button', { name: 'Count keys' }).click();
			await bulk
				.getByRole('status')
				.filter({
					hasText: 'Google Gemini: 2 keys of 2 users to switch off (2 on now); 2 stored keys of 2 users to re-check.'
				})
				.waitFor();
			await browser.screenshot('admin-06c-bulk-counted');

			await bulk.locator('summary', { hasText: 'Re-check all 2 keys' }).click();
			await bulk.getByRole('button', { name: 'Yes, re-check 2 keys' }).click();
			await bulk
				.getByRole('status')
				.filter({ hasText: 'Marked 2 Google Gemini keys of 2 users for re-checking' })
				.waitFor();

			await bulk.getByRole('button', { name: 'Count keys' }).click();
			await bulk.locator('summary', { hasText: 'Switch off all 2 keys' }).click();
			await bulk.getByText('Switch off 2 Google Gemini keys of 2 users?').waitFor();
			await browser.screenshot('admin-06d-bulk-confirm');
			await bulk.getByRole('button', { name: 'Yes, switch off 2 keys' }).click();
			await bulk
				.getByRole('status')
				.filter({ hasText: 'Switched off 2 Google Gemini keys of 2 users (2 on).' })
				.waitFor();
			for (const owner of owners) {
				expect(await owner.trpc.keys.list.query()).toEqual([
					expect.objectContaining({ provider: 'google', isActive: false, disabledByAdmin: true })
				]);
			}
			// Counting again finds nothing left to switch off.
			await bulk.getByRole('button', { name: 'Count keys' }).click();
			await bulk.getByRole('status').filter({ hasText: 'Google Gemini: 0 keys of 0 users to switch off' }).waitFor();
			expect(await bulk.locator('summary', { hasText: 'Switch off' }).count()).toBe(0);
		});

		it('shows a non-admin the 403 page', async () => {
			const { page, context } = browser;
			await context.clearCookies();
			await page.goto(`${app.url}/signin`);
			await page.getByLabel('Email').fill(VICTIM.email);
			await page.getByLabel('Password', { exact: true }).fill(VICTIM.password);
			await page.getByRole('button', { name: 'Sign in' }).click();
			await page.waitForURL(`${app.url}/chat`);
			expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).count()).toBe(0);
			const response = await page.goto(`${app.url}/admin`);
			expect(response?.status()).toBe(403);
			await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
			await page.getByText('Only admins can open the admin console.').waitFor();
			await browser.screenshot('admin-07-forbidden');
		});
	}
);
