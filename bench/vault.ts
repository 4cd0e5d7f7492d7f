// Vault benchmark: seal+open throughput on one core, and a 100,000-row master key rotation on
// real PostgreSQL. Prints what it measured, on what, and how to repeat it.
//
//   npx tsx bench/vault.ts
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test BENCH_ROWS=100000 npx tsx bench/vault.ts
//
// The rotation part creates its own database next to BENCH_DATABASE_URL's and drops it after.
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import sodium from 'libsodium-wrappers';
import pg from 'pg';
import { connectDatabase, migrate } from '../src/lib/server/db';
import type { Provider } from '../src/lib/server/config';
import { createKeyring, keyBytes, keyFingerprint, openKey, rotateKeys, sealKey } from '../src/lib/server/vault';

const DATABASE_URL = process.env.BENCH_DATABASE_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const PROVIDERS: Provider[] = ['openai', 'anthropic', 'google', 'openrouter'];

const masterA = { id: 'bench-a', key: new Uint8Array(randomBytes(32)) };
const masterB = { id: 'bench-b', key: new Uint8Array(randomBytes(32)) };
// A realistic OpenAI project key length (164 characters).
const API_KEY = `sk-proj-${'A1b2C3d4'.repeat(20).slice(0, 156)}`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function perSecond(label: string, run: () => void): number {
	for (let i = 0; i < 5_000; i++) run(); // warm up the JIT and the WASM heap
	let count = 0;
	const started = performance.now();
	const until = started + SECONDS * 1000;
	while (performance.now() < until) {
		for (let i = 0; i < 1000; i++) run();
		count += 1000;
	}
	const rate = count / ((performance.now() - started) / 1000);
	console.log(`  ${label.padEnd(58)} ${fmt(rate).padStart(9)} per second`);
	return rate;
}

async function cryptoBench(): Promise<void> {
	const keyring = await createKeyring([masterA]);
	const subject = { userId: '6f1c2b0e-8a57-4d0b-9c3e-2f4a5b6c7d8e', provider: 'openai' as const };
	const plaintext = keyBytes(API_KEY);
	console.log(
		`seal+open, ${API_KEY.length}-character key, one core (JavaScript runs on one thread), ${SECONDS} s each:`
	);
	const full = perSecond('sealKey + openKey (subkey derived per call, as stored)', () => {
		const sealed = sealKey(keyring, subject, plaintext);
		sodium.memzero(openKey(keyring, subject, sealed));
	});
	const subkey = keyring.sealingKey(keyring.activeId, subject);
	const nonce = new Uint8Array(24);
	perSecond('secretbox seal + open only (one subkey, no derivation)', () => {
		crypto.getRandomValues(nonce);
		const box = sodium.crypto_secretbox_easy(plaintext, nonce, subkey);
		sodium.memzero(sodium.crypto_secretbox_open_easy(box, nonce, subkey));
	});
	perSecond('subkey derivation alone (keyed BLAKE2b)', () => {
		sodium.memzero(keyring.sealingKey(keyring.activeId, subject));
	});
	perSecond('fingerprint (keyed BLAKE2b, cached fingerprint key)', () => {
		keyFingerprint(keyring, keyring.activeId, subject, plaintext);
	});
	perSecond('nonce from libsodium.js randombytes_buf(24), for comparison', () => {
		sodium.randombytes_buf(24);
	});
	console.log(`  target: at least 50,000 seal+open per second -> ${full >= 50_000 ? 'met' : 'NOT met'}`);
}

async function rotationBench(): Promise<void> {
	const name = `lk_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
	const admin = new pg.Client({ connectionString: DATABASE_URL });
	await admin.connect();
	const version = (await admin.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?';
	await admin.query(`create database "${name}"`);
	await admin.end();
	const url = new URL(DATABASE_URL);
	url.pathname = `/${name}`;
	const handle = await connectDatabase({ databaseUrl: url.toString(), poolSize: 4 });
	try {
		await migrate(handle);
		const db = handle.db;
		const users = Math.ceil(ROWS / PROVIDERS.length);
		console.log(
			`\nrotation of ${fmt(ROWS)} rows on PostgreSQL ${version} (${users} users x 4 providers), batches of ${BATCH}:`
		);
		let seeded = performance.now();
		const userIds = (await insertUsers(url.toString(), users)).map((r) => r.id);
		const oldKeyring = await createKeyring([masterA]);
		const rows = [];
		for (let i = 0; i < ROWS; i++) {
			const userId = userIds[Math.floor(i / PROVIDERS.length)]!;
			const provider = PROVIDERS[i % PROVIDERS.length]!;
			const bytes = keyBytes(`${API_KEY.slice(0, 150)}${i}`);
			const subject = { userId, provider };
			const sealed = sealKey(oldKeyring, subject, bytes);
			rows.push({
				user_id: userId,
				provider,
				last4: 'abcd',
				ciphertext: sealed.ciphertext,
				nonce: sealed.nonce,
				master_key_id: sealed.masterKeyId,
				fingerprint: keyFingerprint(oldKeyring, sealed.masterKeyId, subject, bytes),
				status: 'valid' as const,
				next_validation_at: new Date(Date.now() + 86_400_000)
			});
			if (rows.length === 2000) await db.insertInto('provider_keys').values(rows.splice(0)).execute();
		}
		if (rows.length > 0) await db.insertInto('provider_keys').values(rows.splice(0)).execute();
		await handle.runScript(db, 'analyze provider_keys');
		seeded = performance.now() - seeded;
		console.log(`  seeded in ${(seeded / 1000).toFixed(1)} s`);

		const keyring = await createKeyring([masterB, masterA]);
		const started = performance.now();
		const result = await rotateKeys(db, keyring, { batchSize: BATCH });
		const seconds = (performance.now() - started) / 1000;
		console.log(
			`  rotated ${fmt(result.rotated)} rows in ${seconds.toFixed(1)} s (${fmt(result.rotated / seconds)} rows per second), ${result.failed} failed, ${result.remaining} left`
		);
		console.log(
			`  ${result.batches} batches, ${((seconds / Math.max(1, result.batches)) * 1000).toFixed(0)} ms each on average (how long a batch's rows stay locked against writers; readers never wait)`
		);
		console.log(`  target: under 60 s -> ${seconds < 60 && result.remaining === 0 ? 'met' : 'NOT met'}`);
	} finally {
		await handle.close();
		const dropper = new pg.Client({ connectionString: DATABASE_URL });
		await dropper.connect();
		await dropper.query(`drop database if exists "${name}" with (force)`);
		await dropper.end();
	}
}

/** Users in one statement: this bench is about rotation, not sign-up. */
async function insertUsers(url: string, count: number): Promise<Array<{ id: string }>> {
	const client = new pg.Client({ connectionString: url });
	await client.connect();
	try {
		const result = await client.query<{ id: string }>(
			`insert into users (email, password_hash)
			 select 'bench' || g || '@example.com', 'not-a-hash' from generate_series(1, $1::int) g
			 returning id`,
			[count]
		);
		return result.rows;
	} finally {
		await client.end();
	}
}

await sodium.ready;
const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
console.log(
	`Latchkey vault benchmark: node ${process.version}, ${cpu} (${cpus().length} cores), libsodium ${sodium.sodium_version_string()}\n`
);
await cryptoBench();
if (process.env.BENCH_SKIP_ROTATION === '1') {
	console.log('\nrotation skipped (BENCH_SKIP_ROTATION=1)');
} else {
	await rotationBench();
}
console.log(
	`\nRepeat: npx tsx bench/vault.ts   (BENCH_DATABASE_URL=${DATABASE_URL} BENCH_ROWS=${ROWS} BENCH_BATCH=${BATCH})`
);
