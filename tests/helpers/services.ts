import { Writable } from 'node:stream';
import { loadConfig, type Config } from '$lib/server/config';
import { createServices, type Services } from '$lib/server/services';
import { createLogger } from '$lib/server/log';
import type { DbHandle } from '$lib/server/db';
import { TEST_MASTER_KEYS } from './env';
import { appendTestLog, recordSecret, testLogPath } from './test-output';

/** Config as a test would set the environment; unspecified variables take their defaults. */
export function testConfig(env: Record<string, string> = {}): Config {
	return loadConfig({
		NODE_ENV: 'test',
		MASTER_KEYS: TEST_MASTER_KEYS,
		LOG_LEVEL: 'debug',
		// Tests sign up many accounts from one address; the sign-up throttle has tests of its own.
		SIGNUP_MAX_PER_IP_PER_HOUR: '1000000',
		...env
	});
}

/**
 * Services over a test database, with every log line captured for leak scans: kept in `logLines`
 * for the test, and (under Vitest) written to `test-results/logs/` for the whole-suite scan.
 */
export async function testServices(
	handle: DbHandle,
	env: Record<string, string> = {}
): Promise<Services & { logLines: string[] }> {
	const logLines: string[] = [];
	const logPath = testLogPath('services');
	for (const name of ['OPENROUTER_API_KEY', 'METRICS_TOKEN']) recordSecret(env[name]);
	for (const entry of (env.MASTER_KEYS ?? TEST_MASTER_KEYS).split(',')) recordSecret(entry.split(':')[1]);
	const destination = new Writable({
		write(chunk, _encoding, callback) {
			const line = String(chunk);
			logLines.push(line);
			appendTestLog(logPath, line);
			callback();
		}
	});
	const config = testConfig(env);
	const log = createLogger({ level: 'debug', destination });
	const services = await createServices({ config, dbHandle: handle, log, runMigrations: false });
	// The test database outlives these services; its owner closes it.
	return Object.assign(services, { logLines, close: async () => {} });
}
