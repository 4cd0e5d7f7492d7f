import { existsSync } from 'node:fs';

/**
 * What this run can reach. PostgreSQL tests need TEST_DATABASE_URL; browser tests need Chromium.
 * REQUIRE_POSTGRES=1 / REQUIRE_BROWSER=1 (set by .ci/run) turn a missing one into a failure
 * instead of a skip, so CI can never pass by skipping.
 */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL?.trim() || undefined;
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(chromiumPath);
export const requirePostgres = process.env.REQUIRE_POSTGRES === '1';
export const requireBrowser = process.env.REQUIRE_BROWSER === '1';

export const postgresSkipReason = testDatabaseUrl
	? undefined
	: 'PostgreSQL tests skipped: TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';
export const browserSkipReason = hasChromium
	? undefined
	: `Browser tests skipped: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`;

/** A master key for tests only; real deployments generate their own. */
export const TEST_MASTER_KEYS = 'test1:' + Buffer.alloc(32, 7).toString('base64');

/** The environment of a fresh shell for a spawned command: no database, no master keys, nothing from the test run. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
	return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...extra };
}
