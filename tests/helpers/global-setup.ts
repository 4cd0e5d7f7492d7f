import type { TestProject } from 'vitest/node';
import { browserSkipReason, postgresSkipReason, requireBrowser, requirePostgres } from './env';
import { markProjectRan } from './test-output';

/**
 * Says once, up front, what this run will not test and why; fails when CI requires it. Vitest
 * runs it for each project that has files to run: the mark tells the whole-suite leak scan which
 * projects' logs it must find.
 */
export default function setup(project: TestProject) {
	markProjectRan(project.name);
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
