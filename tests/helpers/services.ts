import { Writable } from 'node:stream';
import { loadConfig, type Config } from '$lib/server/config';
import { createServices, type Services } from '$lib/server/services';
import { createLogger } from '$lib/server/log';
import type { DbHandle } from '$lib/server/db';
import { TEST_MASTER_KEYS } from './env';

/** Config as a test would set the environment; unspecified variables take their defaults. */
export function testConfig(env: Record<string, string> = {}): Config {
	return loadConfig({ NODE_ENV: 'test', MASTER_KEYS: TEST_MASTER_KEYS, LOG_LEVEL: 'debug', ...env });
}

/** Services over a test database, with every log line captured for leak scans. */
export async function testServices(
	handle: DbHandle,
	env: Record<string, string> = {}
): Promise<Services & { logLines: string[] }> {
	const logLines: string[] = [];
	const destination = new Writable({
		write(chunk, _encoding, callback) {
			logLines.push(String(chunk));
			callback();
		}
	});
	const config = testConfig(env);
	const log = createLogger({ level: 'debug', destination });
	const services = await createServices({ config, dbHandle: handle, log, runMigrations: false });
	// The test database outlives these services; its owner closes it.
	return Object.assign(services, { logLines, close: async () => {} });
}
