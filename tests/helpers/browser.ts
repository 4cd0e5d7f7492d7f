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
