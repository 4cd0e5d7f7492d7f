import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromiumPath } from './env';

// Without the background-networking flags Chromium keeps dialing Google on this closed network.
const FLAGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync'
];

export const SCREENSHOT_DIR = resolve(import.meta.dirname, '../../test-results/screenshots');

export interface TestBrowser {
	context: BrowserContext;
	page: Page;
	screenshot(name: string): Promise<string>;
	close(): Promise<void>;
}

/** Debian's Chromium with a fresh profile; never a downloaded browser. */
export async function launchBrowser(
	options: { viewport?: { width: number; height: number } } = {}
): Promise<TestBrowser> {
	const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: chromiumPath,
		headless: true,
		args: FLAGS,
		viewport: options.viewport ?? { width: 1280, height: 800 }
	});
	const page = context.pages()[0] ?? (await context.newPage());
	mkdirSync(SCREENSHOT_DIR, { recursive: true });
	return {
		context,
		page,
		async screenshot(name) {
			const path = join(SCREENSHOT_DIR, `${name}.png`);
			await page.screenshot({ path, fullPage: true });
			return path;
		},
		async close() {
			await context.close();
			rmSync(profile, { recursive: true, force: true });
		}
	};
}

/**
 * Starts recording, inside the page, each length the streaming answer's text takes on screen
 * (`article.assistant[aria-busy="true"] .text`); `answerLengths` reads them back. A streamed
 * answer shows several growing lengths; a test that polls from outside could miss them on a busy
 * machine.
 */
export async function recordAnswerLengths(page: Page): Promise<void> {
	await page.evaluate(() => {
		const seen: number[] = [];
		(window as unknown as { answerLengths: number[] }).answerLengths = seen;
		new MutationObserver(() => {
			const text = document.querySelector('article.assistant[aria-busy="true"] .text');
			const length = text?.textContent?.length ?? 0;
			if (length > 0 && seen.at(-1) !== length) seen.push(length);
		}).observe(document.body, { subtree: true, childList: true, characterData: true });
	});
}

export async function answerLengths(page: Page): Promise<number[]> {
	return page.evaluate(() => (window as unknown as { answerLengths: number[] }).answerLengths);
}
