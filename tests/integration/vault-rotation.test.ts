import type { Kysely } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { listAudit } from '$lib/server/audit';
import type { Provider } from '$lib/server/config';
import { deactivateKey } from '$lib/server/admin';
import type { Database } from '$lib/server/db';
import { upsertKey } from '$lib/server/keys';
import {
	createKeyring,
	keyBytes,
	keyFingerprint,
	openKey,
	rotateKeys,
	sameFingerprint,
	sealKey,
	type Keyring
} from '$lib/server/vault';
import { describeEachDatabase } from '../helpers/db';
import { createUser, PROVIDERS, testKey, withActiveKey } from './keys-fixtures';

const A = { id: 'old-a', key: new Uint8Array(32).fill(0xa1) };
const B = { id: 'new-b', key: new Uint8Array(32).fill(0xb2) };

interface Stored {
	userId: string;
	provider: Provider;
	apiKey: string;
}

/** Seals keys for `users` users (one per provider) under `keyring`, straight into the table. */
async function sealKeys(db: Kysely<Database>, keyring: Keyring, users: number): Promise<Stored[]> {
	const stored: Stored[] = [];
	for (let u = 0; u < users; u++) {
		const user = await createUser(db, 'rot');
		const rows = PROVIDERS.map((provider) => {
			const apiKey = testKey(provider);
			stored.push({ userId: user.id, provider, apiKey });
			const subject = { userId: user.id, provider };
			const bytes = keyBytes(apiKey);
			const sealed = sealKey(keyring, subject, bytes);
			return {
				user_id: user.id,
				provider,
				last4: apiKey.slice(-4),
				ciphertext: sealed.ciphertext,
				nonce: sealed.nonce,
				master_key_id: sealed.masterKeyId,
				fingerprint: keyFingerprint(keyring, sealed.masterKeyId, subject, bytes),
				status: 'valid' as const,
				next_validation_at: new Date(Date.now() + 86_400_000)
			};
		});
		await db.insertInto('provider_keys').values(rows).execute();
	}
	return stored;
}

async function masterKeyCounts(db: Kysely<Database>, userIds: string[]): Promise<Record<string, number>> {
	const rows = await db
		.selectFrom('provider_keys')
		.select(['master_key_id', (eb) => eb.fn.countAll<number>().as('n')])
		.where('user_id', 'in', userIds)
		.groupBy('master_key_id')
		.execute();
	return Object.fromEntries(rows.map((r) => [r.master_key_id, Number(r.n)]));
}

/** Every stored key opens under `keyring` to its original plaintext, with a matching fingerprint. */
async function expectAllOpen(db: Kysely<Database>, keyring: Keyring, stored: Stored[]) {
	const rows = await db
		.selectFrom('provider_keys')
		.selectAll()
		.where(
			'user_id',
			'in',
			stored.map((s) => s.userId)
		)
		.execute();
	expect(rows).toHaveLength(stored.length);
	for (const s of stored) {
		const row = rows.find((r) => r.user_id === s.userId && r.provider === s.provider)!;
		const subject = { userId: s.userId, provider: s.provider };
		const sealed = { masterKeyId: row.master_key_id, nonce: row.nonce, ciphertext: row.ciphertext };
		expect(new TextDecoder().decode(openKey(keyring, subject, sealed))).toBe(s.apiKey);
		const expected = keyFingerprint(keyring, row.master_key_id, subject, keyBytes(s.apiKey));
		expect(sameFingerprint(expected, row.fingerprint)).toBe(true);
	}
}

describeEachDatabase('master key rotation', (database) => {
	let db: Kysely<Database>;
	let underA: Keyring;
	let rotating: Keyring;
	let onlyB: Keyring;
	beforeAll(async () => {
		db = database().handle.db;
		underA = await createKeyring([A]);
		rotating = await createKeyring([B, A]);
		onlyB = await createKeyring([B]);
	});

	it('re-seals every key under the new master key while reads keep succeeding', async () => {
		const stored = await sealKeys(db, underA, 30);
		const userIds = [...new Set(stored.map((s) => s.userId))];
		let rotationRunning = true;
		let reads = 0;
		let readsDuringRotation = 0;
		const readFailures: string[] = [];
		const reader = async (offset: number) => {
			for (let i = offset; rotationRunning || i < offset + 10; i++) {
				const s = stored[i % stored.length]!;
				try {
					const opened = await withActiveKey(
						db,
						rotating,
						{ userId: s.userId, provider: s.provider },
						(apiKey) => apiKey
					);
					if (opened !== s.apiKey) readFailures.push(`wrong plaintext for ${s.provider}`);
				} catch (error) {
					readFailures.push(String(error));
				}
				reads += 1;
				if (rotationRunning) readsDuringRotation += 1;
			}
		};
		const readers = [reader(0), reader(37), reader(71)];
		const progress: number[] = [];
		const result = await rotateKeys(db, rotating, {
			batchSize: 16,
			onProgress: (p) => {
				progress.push(p.rotated);
			}
		});
		rotationRunning = false;
		await Promise.all(readers);

		expect(readFailures).toEqual([]);
		expect(readsDuringRotation).toBeGreaterThan(0);
		expect(reads).toBeGreaterThan(readsDuringRotation);
		expect(result).toMatchObject({
			toMasterKeyId: 'new-b',
			fromMasterKeyIds: ['old-a'],
			rotated: stored.length,
			failed: 0,
			remaining: 0,
			completed: true
		});
		expect(progress.length).toBe(Math.ceil(stored.length / 16));
		expect(progress[progress.length - 1]).toBe(stored.length);
		expect(await masterKeyCounts(db, userIds)).toEqual({ 'new-b': stored.length });
		// Old master key gone from the keyring: everything still opens, fingerprints were redone.
		await expectAllOpen(db, onlyB, stored);
		const { entries } = await listAudit(db, { action: 'vault.rotate', limit: 1 });
		expect(entries[0]?.details).toMatchObject({
			to: 'new-b',
			from: ['old-a'],
			rotated: stored.length,
			failed: 0,
			completed: true
		});
		expect(entries[0]?.actorUserId).toBeNull();
	});

	it('resumes where an interrupted rotation stopped and loses nothing', async () => {
		const stored = await sealKeys(db, underA, 10);
		const userIds = [...new Set(stored.map((s) => s.userId))];
		await expect(
			rotateKeys(db, rotating, {
				batchSize: 8,
				onProgress: () => {
					throw new Error('the rotation process was killed');
				}
			})
		).rejects.toThrow('killed');
		expect(await masterKeyCounts(db, userIds)).toEqual({ 'new-b': 8, 'old-a': stored.length - 8 });
		// Mid-rotation, the mixed table is fully readable with both keys in the keyring.
		await expectAllOpen(db, rotating, stored);

		const resumed = await rotateKeys(db, rotating, { batchSize: 8 });
		expect(resumed).toMatchObject({ rotated: stored.length - 8, remaining: 0, completed: true });
		expect(await masterKeyCounts(db, userIds)).toEqual({ 'new-b': stored.length });
		await expectAllOpen(db, onlyB, stored);
		const { entries } = await listAudit(db, { action: 'vault.rotate', limit: 2 });
		expect(entries.map((e) => [e.details.rotated, e.details.completed])).toEqual([
			[stored.length - 8, true],
			[8, false]
		]);
	});

	it('lets two rotations run at once without doing any row twice', async () => {
		const stored = await sealKeys(db, underA, 12);
		const results = await Promise.all([
			rotateKeys(db, rotating, { batchSize: 5 }),
			rotateKeys(db, rotating, { batchSize: 5 })
		]);
		expect(results.reduce((sum, r) => sum + r.rotated, 0)).toBe(stored.length);
		await expectAllOpen(db, onlyB, stored);
	});

	it('reports a row it cannot open, leaves it as it is, and rotates the rest', async () => {
		const stored = await sealKeys(db, underA, 3);
		const victim = stored[5]!;
		await db
			.updateTable('provider_keys')
			.set({ nonce: new Uint8Array(24) })
			.where('user_id', '=', victim.userId)
			.where('provider', '=', victim.provider)
			.execute();
		const result = await rotateKeys(db, rotating, { batchSize: 4 });
		expect(result).toMatchObject({ rotated: stored.length - 1, failed: 1, remaining: 1, completed: false });
		const [row] = await db
			.selectFrom('provider_keys')
			.select(['id', 'master_key_id'])
			.where('user_id', '=', victim.userId)
			.where('provider', '=', victim.provider)
			.execute();
		expect(result.failedKeyIds).toEqual([row!.id]);
		expect(row!.master_key_id).toBe('old-a');
		// Clean up so later runs on this database start from a fully rotated table.
		await db.deleteFrom('provider_keys').where('id', '=', row!.id).execute();
	});

	it('carries an admin’s block of a key over, so it holds after the old master key is retired', async () => {
		const [blocked] = await sealKeys(db, underA, 1);
		const admin = await createUser(db, 'admin');
		const row = await db
			.selectFrom('provider_keys')
			.select('id')
			.where('user_id', '=', blocked!.userId)
			.where('provider', '=', blocked!.provider)
			.executeTakeFirstOrThrow();
		await deactivateKey(db, { keyId: row.id }, { actorUserId: admin.id });
		await rotateKeys(db, rotating);
		await db.deleteFrom('provider_keys').where('id', '=', row.id).execute();
		const unreachable = 'http://127.0.0.1:9';
		const deps = {
			db,
			keyring: onlyB,
			config: {
				baseUrls: { openai: unreachable, anthropic: unreachable, google: unreachable, openrouter: unreachable }
			}
		};
		await expect(
			upsertKey(deps, { userId: blocked!.userId, ip: null }, { provider: blocked!.provider, apiKey: blocked!.apiKey })
		).rejects.toMatchObject({ code: 'conflict', reason: 'key_disabled_by_admin' });
	});
});
