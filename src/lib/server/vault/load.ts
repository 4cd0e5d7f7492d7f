import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config, type MasterKey } from '$lib/server/config';
import type { Logger } from '$lib/server/log';
import { createKeyring, type Keyring } from './keyring';

export const MASTER_KEY_FILE = 'master.key';
const GENERATED_KEY_ID = 'local';

export interface LoadKeyringOptions {
	/** Where to write a generated key when nothing else is configured (embedded mode only). */
	allowGenerate?: boolean;
}

/**
 * The keyring for this process: `MASTER_KEYS` when set; otherwise, in embedded mode only, the
 * key in `DATA_DIR/master.key`, generated (mode 0600) on first start with a single warning.
 * With `DATABASE_URL` and no `MASTER_KEYS` it refuses, like `loadConfig` does.
 */
export async function loadKeyring(
	config: Pick<Config, 'masterKeys' | 'database'>,
	log: Pick<Logger, 'warn' | 'info'>,
	options: LoadKeyringOptions = {}
): Promise<Keyring> {
	if (config.masterKeys) return createKeyring(config.masterKeys);
	if (config.database.url) {
		throw new ConfigError(['MASTER_KEYS: required when DATABASE_URL is set (a list of id:base64 32-byte keys)']);
	}
	const path = join(config.database.dataDir, MASTER_KEY_FILE);
	const existing = readKeyFile(path);
	if (existing) {
		if ((statSync(path).mode & 0o077) !== 0) {
			log.warn({ path }, `${path} is readable by other users; run chmod 600 on it`);
		}
		log.info({ path, masterKeyId: existing.id }, 'using the master key generated earlier in DATA_DIR');
		return createKeyring([existing]);
	}
	if (options.allowGenerate === false) {
		throw new ConfigError([`MASTER_KEYS: not set and there is no ${path} to read one from`]);
	}
	const generated = generateKeyFile(path, config.database.dataDir);
	log.warn(
		{ path, masterKeyId: generated.id },
		`MASTER_KEYS is not set: generated a master key into ${path} (mode 0600). Anyone who can read DATA_DIR can unseal stored API keys; back the file up separately and set MASTER_KEYS for production.`
	);
	return createKeyring([generated]);
}

function readKeyFile(path: string): MasterKey | undefined {
	let text: string;
	try {
		text = readFileSync(path, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
		throw error;
	}
	const parsed = parseKeyLine(text.trim());
	if (!parsed)
		throw new ConfigError([`${path}: expected one line shaped id:base64 (32 bytes); restore it from a backup`]);
	return parsed;
}

function parseKeyLine(line: string): MasterKey | undefined {
	const match = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/]+={0,2})$/.exec(line);
	if (!match?.[1] || !match[2]) return undefined;
	const key = new Uint8Array(Buffer.from(match[2], 'base64'));
	return key.length === 32 ? { id: match[1], key } : undefined;
}

function generateKeyFile(path: string, dataDir: string): MasterKey {
	mkdirSync(dataDir, { recursive: true, mode: 0o700 });
	const key = new Uint8Array(randomBytes(32));
	try {
		// 'wx': never overwrite a key another process wrote a moment ago; the line can be pasted
		// into MASTER_KEYS as is.
		writeFileSync(path, `${GENERATED_KEY_ID}:${Buffer.from(key).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
			const other = readKeyFile(path);
			if (other) return other;
		}
		throw error;
	}
	chmodSync(path, 0o600); // in case the umask was unusual
	return { id: GENERATED_KEY_ID, key };
}
