import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '$lib/server/config';
import { createLogger } from '$lib/server/log';
import { keyBytes, loadKeyring, MASTER_KEY_FILE, openKey, sealKey } from '$lib/server/vault';

const dirs: string[] = [];
afterAll(() => {
	for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshDataDir(): string {
	const dir = mkdtempSync(join(tmpdir(), 'latchkey-keyring-'));
	dirs.push(dir);
	return join(dir, 'data');
}

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

const subject = { userId: '11111111-1111-4111-8111-111111111111', provider: 'anthropic' as const };
const API_KEY = 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789';

describe('master keyring', () => {
	it('generates a key into DATA_DIR with mode 0600 and one warning, then reuses it quietly', async () => {
		const dataDir = freshDataDir();
		const config = loadConfig({ DATA_DIR: dataDir });
		const first = capturedLog();
		const keyring = await loadKeyring(config, first.log);
		const path = join(dataDir, MASTER_KEY_FILE);
		expect(statSync(path).mode & 0o777).toBe(0o600);
		expect(readFileSync(path, 'utf8')).toMatch(/^local:[A-Za-z0-9+/]{43}=\n$/);
		const warnings = first.lines.filter((l) => l.level === 'warn');
		expect(warnings).toHaveLength(1);
		expect(warnings[0]?.msg).toMatch(/MASTER_KEYS is not set: generated a master key/);
		// The log names the file, never the key.
		const keyText = readFileSync(path, 'utf8').trim().split(':')[1] ?? '';
		expect(JSON.stringify(first.lines)).not.toContain(keyText.slice(0, 12));

		const sealed = sealKey(keyring, subject, keyBytes(API_KEY));
		const second = capturedLog();
		const again = await loadKeyring(config, second.log);
		expect(second.lines.filter((l) => l.level === 'warn')).toHaveLength(0);
		expect(new TextDecoder().decode(openKey(again, subject, sealed))).toBe(API_KEY);
	});

	it('warns when the generated key file is readable by others', async () => {
		const dataDir = freshDataDir();
		const config = loadConfig({ DATA_DIR: dataDir });
		await loadKeyring(config, capturedLog().log);
		chmodSync(join(dataDir, MASTER_KEY_FILE), 0o644);
		const { lines, log } = capturedLog();
		await loadKeyring(config, log);
		expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
			expect.stringMatching(/readable by other users; run chmod 600/)
		]);
	});

	it('takes MASTER_KEYS when set and writes no file', async () => {
		const dataDir = freshDataDir();
		const config = loadConfig({
			DATA_DIR: dataDir,
			MASTER_KEYS: `k2:${Buffer.alloc(32, 2).toString('base64')},k1:${Buffer.alloc(32, 1).toString('base64')}`
		});
		const { lines, log } = capturedLog();
		const keyring = await loadKeyring(config, log);
		expect(keyring.activeId).toBe('k2');
		expect(keyring.ids).toEqual(['k2', 'k1']);
		expect(() => statSync(join(dataDir, MASTER_KEY_FILE))).toThrow();
		expect(lines).toHaveLength(0);
	});

	it('refuses to run on PostgreSQL without MASTER_KEYS', async () => {
		const config = { masterKeys: undefined, database: { url: 'postgres://x@127.0.0.1/db', poolSize: 1, dataDir: '.' } };
		await expect(loadKeyring(config, capturedLog().log)).rejects.toBeInstanceOf(ConfigError);
		expect(() => loadConfig({ DATABASE_URL: 'postgres://x@127.0.0.1/db' })).toThrow(/MASTER_KEYS: required/);
	});

	it('refuses a damaged key file instead of generating a new key over it', async () => {
		const dataDir = freshDataDir();
		const config = loadConfig({ DATA_DIR: dataDir });
		await loadKeyring(config, capturedLog().log);
		writeFileSync(join(dataDir, MASTER_KEY_FILE), 'local:tooshort\n');
		await expect(loadKeyring(config, capturedLog().log)).rejects.toThrow(/expected one line shaped id:base64/);
		expect(readFileSync(join(dataDir, MASTER_KEY_FILE), 'utf8')).toBe('local:tooshort\n');
	});
});
