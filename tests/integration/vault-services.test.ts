import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '$lib/server/config';
import { createLogger } from '$lib/server/log';
import { createServices } from '$lib/server/services';
import { keyBytes, openKey, sealKey } from '$lib/server/vault';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
	for (const cleanup of cleanups) await cleanup();
});

function capturedLog() {
	const lines: Array<{ level: string; msg: string }> = [];
	const destination = new Writable({
		write(chunk, _encoding, callback) {
			lines.push(JSON.parse(String(chunk)) as { level: string; msg: string });
			callback();
		}
	});
	return { lines, log: createLogger({ level: 'debug', destination }) };
}

describe('services in embedded mode without MASTER_KEYS', () => {
	it('generate one master key into DATA_DIR, warn once, and keep using it after a restart', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'latchkey-services-'));
		cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
		const database: TestDatabase = await createTestDatabase('pglite');
		cleanups.push(database.drop);
		const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dir });
		expect(config.masterKeys).toBeUndefined();

		const first = capturedLog();
		const services = await createServices({ config, dbHandle: database.handle, log: first.log, runMigrations: false });
		expect(services.keyring.activeId).toBe('local');
		expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);
		expect(first.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
		const subject = { userId: '33333333-3333-4333-8333-333333333333', provider: 'openai' as const };
		const sealed = sealKey(services.keyring, subject, keyBytes('sk-proj-restart0123456789abcdefgh'));

		const second = capturedLog();
		const restarted = await createServices({
			config,
			dbHandle: database.handle,
			log: second.log,
			runMigrations: false
		});
		expect(second.lines.filter((l) => l.level === 'warn')).toHaveLength(0);
		expect(new TextDecoder().decode(openKey(restarted.keyring, subject, sealed))).toBe(
			'sk-proj-restart0123456789abcdefgh'
		);
	});
});
