import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppServer } from '../helpers/app-server';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { browserSkipReason, testDatabaseUrl } from '../helpers/env';
import { startMailServer, startReceiver } from '../helpers/alert-receivers';
import { recordSecret } from '../helpers/test-output';
import { SIGNATURE_HEADER, verifySignature } from '$lib/server/alerts/signature';

/** Polls until `check` holds (the server's worker sends within a few seconds). */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
	const until = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > until) throw new Error('timed out waiting');
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
}

describe.skipIf(Boolean(browserSkipReason))('alerts in the browser', () => {
	let app: AppServer;
	let browser: TestBrowser;
	let dropDatabase: (() => Promise<void>) | undefined;
	let receiver: Awaited<ReturnType<typeof startReceiver>>;
	let mail: Awaited<ReturnType<typeof startMailServer>>;

	beforeAll(async () => {
		receiver = await startReceiver();
		mail = await startMailServer();
		const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
		dropDatabase = database?.drop;
		// NODE_ENV=test: plain-http webhooks to 127.0.0.1 are allowed only outside production.
		app = await startApp({
			databaseUrl: database?.url,
			env: { NODE_ENV: 'test', SMTP_URL: mail.url, MAIL_FROM: 'alerts@latchkey.test' }
		});
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
		await app?.stop();
		await dropDatabase?.();
		await receiver?.close();
		await mail?.close();
	});

	it('sets a webhook, shows its secret once, sends a signed test alert and an e-mail', async () => {
		const { page } = browser;
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Email').fill('grace@example.com');
		await page.getByLabel('Password', { exact: true }).fill('compiler pioneer');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL(`${app.url}/chat`);
		await page.goto(`${app.url}/settings`);
		await page.getByRole('heading', { name: 'Alerts' }).waitFor();
		await page.getByText('Nothing sent yet.').waitFor();

		await page.getByLabel('Webhook address').fill(receiver.url);
		await page.getByRole('button', { name: 'Save address' }).click();
		const field = page.getByLabel('Your signing secret');
		await field.waitFor();
		const secret = await field.inputValue();
		recordSecret(secret);
		expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
		await page.getByText('it will not be shown again').waitFor();
		await browser.screenshot('alerts-01-secret');

		await page.getByRole('button', { name: 'Send a test alert' }).click();
		await page.getByText('Test alert queued (webhook)').waitFor();
		await eventually(() => receiver.received.length === 1);
		const [request] = receiver.received;
		expect(verifySignature(secret, String(request?.headers[SIGNATURE_HEADER]), request?.body ?? '')).toBe(true);

		await eventually(async () => {
			await page.getByRole('button', { name: 'Refresh log' }).click();
			return (await page.getByRole('row', { name: /Webhook.*Delivered/ }).count()) === 1;
		});
		await browser.screenshot('alerts-02-log');

		await page.getByLabel('E-mail me my alerts').check();
		await page.getByText('E-mail alerts on.').waitFor();
		await page.getByRole('button', { name: 'Send a test alert' }).click();
		await page.getByText('Test alert queued (webhook, email)').waitFor();
		await eventually(() => mail.mails.length === 1);
		expect(mail.mails[0]?.to).toEqual(['grace@example.com']);
		expect(mail.mails[0]?.raw).toMatch(/^Subject: Latchkey: Test alert$/m);

		await page.reload();
		await page.getByRole('heading', { name: 'Alerts' }).waitFor();
		expect(await page.getByLabel('Your signing secret').count()).toBe(0);
		expect(await page.content()).not.toContain(secret);
		expect(app.output()).not.toContain(secret);
	});
});
