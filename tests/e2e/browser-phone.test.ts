import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { browserSkipReason, testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

const ADMIN = { email: 'phone-admin@example.com', password: 'small screen admin 1' };
const USER = { email: 'a-rather-long-address@example.com', password: 'small screen user 1' };
const PHONE = { width: 375, height: 667 };

/** What a page looks like on a phone: nothing wider than the screen, a header of one row. */
async function layoutOf(page: Page) {
	return page.evaluate(() => ({
		scrollWidth: document.documentElement.scrollWidth,
		innerWidth: window.innerWidth,
		// What sticks out of the screen, to say where a sideways scroll comes from.
		wide: [...document.querySelectorAll<HTMLElement>('body *')]
			.filter((el) => el.checkVisibility() && el.getBoundingClientRect().right > window.innerWidth + 0.5)
			.filter((el) => ![...el.children].some((child) => child.getBoundingClientRect().right > window.innerWidth + 0.5))
			.map(
				(el) =>
					`${el.tagName.toLowerCase()}.${el.className} "${el.textContent?.trim().slice(0, 30)}" ${Math.round(el.getBoundingClientRect().right)}px`
			),
		headerHeight: document.querySelector('header.header')?.getBoundingClientRect().height ?? 0,
		// Buttons and links people tap, with their heights (links inside running text excluded).
		smallTargets: [
			...document.querySelectorAll<HTMLElement>(
				'header a, header summary, header button, main button, main summary, main .button, main nav a'
			)
		]
			.filter((el) => el.offsetParent !== null && el.getBoundingClientRect().height > 0)
			.filter((el) => el.getBoundingClientRect().height < 40)
			.map(
				(el) =>
					`${el.tagName.toLowerCase()} "${el.textContent?.trim().slice(0, 30)}" ${el.getBoundingClientRect().height}px`
			)
	}));
}

describe.skipIf(Boolean(browserSkipReason))(`on a phone (375 px) [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let stack: Stack;
	let browser: TestBrowser;
	let userId: string;

	beforeAll(async () => {
		stack = await startStack({ admins: [ADMIN] });
		const user = new TestClient(stack.app.url);
		await user.trpc.auth.signUp.mutate(USER);
		const key = testKey('openai', 'phone');
		stack.fake.registerKey('openai', key, 'ok');
		await user.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		userId = (await user.trpc.auth.me.query()).id;
		// Something to show: a chat turn for the admin's figures and the user's page.
		const chat = await user.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'Something to bill' })
		});
		await chat.text();
		browser = await launchBrowser({ viewport: PHONE });
		const { page } = browser;
		await page.goto(`${stack.app.url}/signin`);
		await page.getByLabel('Email').fill(ADMIN.email);
		await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL(`${stack.app.url}/chat`);
	});
	afterAll(async () => {
		await browser?.close();
		await stack?.stop();
	});

	it('keeps the header to one compact row, its links behind a menu', async () => {
		const { page } = browser;
		const layout = await layoutOf(page);
		expect(layout.headerHeight).toBeLessThanOrEqual(64);
		const main = page.getByRole('navigation', { name: 'Main' });
		await main.locator('summary', { hasText: 'Menu' }).click();
		await main.getByRole('link', { name: 'Usage' }).click();
		await page.waitForURL(`${stack.app.url}/usage`);
		// The menu closes once it took you somewhere.
		expect(await main.getByRole('link', { name: 'Usage' }).isVisible()).toBe(false);
	});

	for (const path of ['/admin', '/admin/users/:id', '/keys', '/usage', '/settings']) {
		it(`fits ${path} in the screen, with tap targets at least 40 px high`, async () => {
			const { page } = browser;
			await page.goto(`${stack.app.url}${path.replace(':id', userId)}`);
			await page.locator('main h1').first().waitFor();
			const layout = await layoutOf(page);
			// `wide` (what sticks out, maybe inside its own scroll box) says where a sideways scroll comes from.
			expect(layout.scrollWidth, `${path} scrolls sideways: ${layout.wide.join('; ')}`).toBeLessThanOrEqual(
				layout.innerWidth
			);
			expect(layout.headerHeight).toBeLessThanOrEqual(64);
			expect(layout.smallTargets).toEqual([]);
			await browser.screenshot(`phone${path.replaceAll('/', '-').replace(':id', 'user')}`);
		});
	}
});
