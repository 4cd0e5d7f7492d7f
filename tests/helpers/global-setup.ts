import { browserSkipReason, postgresSkipReason, requireBrowser, requirePostgres } from './env';

/** Says once, up front, what this run will not test and why; fails when CI requires it. */
export default function setup() {
	// Vitest runs this once per project; say it once.
	const flags = globalThis as { latchkeyEnvReported?: boolean };
	if (flags.latchkeyEnvReported) return;
	flags.latchkeyEnvReported = true;
	if (postgresSkipReason) {
		if (requirePostgres) throw new Error(`REQUIRE_POSTGRES=1 but ${postgresSkipReason}`);
		console.warn(`\n⚠ ${postgresSkipReason}\n`);
	}
	if (browserSkipReason) {
		if (requireBrowser) throw new Error(`REQUIRE_BROWSER=1 but ${browserSkipReason}`);
		console.warn(`\n⚠ ${browserSkipReason}\n`);
	}
}
