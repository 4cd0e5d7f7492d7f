import sodium from 'libsodium-wrappers';
import { describe, expect, it } from 'vitest';
import {
	createKeyring,
	keyBytes,
	keyFingerprint,
	openKey,
	sameFingerprint,
	sealKey,
	VaultError,
	withUnsealedKey
} from '$lib/server/vault';

const masterA = { id: 'a', key: new Uint8Array(32).fill(1) };
const masterB = { id: 'b', key: new Uint8Array(32).fill(2) };
const alice = { userId: '11111111-1111-4111-8111-111111111111', provider: 'openai' as const };
const bob = { userId: '22222222-2222-4222-8222-222222222222', provider: 'openai' as const };
const API_KEY = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';

function failureOf(run: () => unknown): string {
	try {
		run();
	} catch (error) {
		if (error instanceof VaultError) return error.failure;
		throw error;
	}
	throw new Error('expected a VaultError');
}

const flipped = (bytes: Uint8Array, index: number) => {
	const copy = Uint8Array.from(bytes);
	copy[index] = (copy[index] ?? 0) ^ 0x01;
	return copy;
};

describe('vault', () => {
	it('opens what it sealed, and the sealed form contains no part of the key', async () => {
		const keyring = await createKeyring([masterA]);
		const sealed = sealKey(keyring, alice, keyBytes(API_KEY));
		expect(sealed.masterKeyId).toBe('a');
		expect(sealed.nonce).toHaveLength(24);
		expect(sealed.ciphertext).toHaveLength(API_KEY.length + 16);
		expect(Buffer.from(sealed.ciphertext).toString('latin1')).not.toContain(API_KEY.slice(8, 16));
		expect(new TextDecoder().decode(openKey(keyring, alice, sealed))).toBe(API_KEY);
	});

	it('uses a fresh nonce for every seal of the same key', async () => {
		const keyring = await createKeyring([masterA]);
		const seals = Array.from({ length: 50 }, () => sealKey(keyring, alice, keyBytes(API_KEY)));
		const nonces = new Set(seals.map((s) => Buffer.from(s.nonce).toString('hex')));
		const ciphertexts = new Set(seals.map((s) => Buffer.from(s.ciphertext).toString('hex')));
		expect(nonces.size).toBe(50);
		expect(ciphertexts.size).toBe(50);
	});

	it('refuses to open under a different master key with the same id', async () => {
		const sealed = sealKey(await createKeyring([masterA]), alice, keyBytes(API_KEY));
		const impostor = await createKeyring([{ id: 'a', key: new Uint8Array(32).fill(9) }]);
		expect(failureOf(() => openKey(impostor, alice, sealed))).toBe('cannot_open');
	});

	it('refuses to open a ciphertext copied into another user’s row', async () => {
		const keyring = await createKeyring([masterA]);
		const sealed = sealKey(keyring, alice, keyBytes(API_KEY));
		expect(failureOf(() => openKey(keyring, bob, sealed))).toBe('cannot_open');
	});

	it('refuses to open a ciphertext moved to another provider of the same user', async () => {
		const keyring = await createKeyring([masterA]);
		const sealed = sealKey(keyring, alice, keyBytes(API_KEY));
		expect(failureOf(() => openKey(keyring, { ...alice, provider: 'openrouter' }, sealed))).toBe('cannot_open');
	});

	it('refuses a tampered nonce or ciphertext, at any byte', async () => {
		const keyring = await createKeyring([masterA]);
		const sealed = sealKey(keyring, alice, keyBytes(API_KEY));
		for (const index of [0, 11, 23]) {
			expect(failureOf(() => openKey(keyring, alice, { ...sealed, nonce: flipped(sealed.nonce, index) }))).toBe(
				'cannot_open'
			);
		}
		for (const index of [0, 15, 16, sealed.ciphertext.length - 1]) {
			expect(
				failureOf(() => openKey(keyring, alice, { ...sealed, ciphertext: flipped(sealed.ciphertext, index) }))
			).toBe('cannot_open');
		}
		expect(failureOf(() => openKey(keyring, alice, { ...sealed, nonce: sealed.nonce.slice(1) }))).toBe('malformed');
		expect(failureOf(() => openKey(keyring, alice, { ...sealed, ciphertext: sealed.ciphertext.slice(0, 16) }))).toBe(
			'malformed'
		);
	});

	it('names a row sealed under a master key the keyring does not hold, in a safe message', async () => {
		const sealed = sealKey(await createKeyring([masterA]), alice, keyBytes(API_KEY));
		const onlyB = await createKeyring([masterB]);
		let caught: unknown;
		try {
			openKey(onlyB, alice, sealed);
		} catch (error) {
			caught = error;
		}
		expect(caught).toBeInstanceOf(VaultError);
		const error = caught as VaultError;
		expect(error.failure).toBe('unknown_master_key');
		expect(error.status).toBe(500);
		expect(error.reason).toBe('vault_unknown_master_key');
		expect(error.message).not.toContain(API_KEY.slice(0, 8));
	});

	it('seals under the first master key and still opens under the others', async () => {
		const old = sealKey(await createKeyring([masterA]), alice, keyBytes(API_KEY));
		const rotated = await createKeyring([masterB, masterA]);
		expect(new TextDecoder().decode(openKey(rotated, alice, old))).toBe(API_KEY);
		expect(sealKey(rotated, alice, keyBytes(API_KEY)).masterKeyId).toBe('b');
	});

	it('zeroes the unsealed bytes after the callback, also when it throws', async () => {
		const keyring = await createKeyring([masterA]);
		const sealed = sealKey(keyring, alice, keyBytes(API_KEY));
		let seen: Uint8Array | undefined;
		const length = await withUnsealedKey(keyring, alice, sealed, (apiKey, bytes) => {
			expect(apiKey).toBe(API_KEY);
			expect(bytes.some((b) => b !== 0)).toBe(true);
			seen = bytes;
			return apiKey.length;
		});
		expect(length).toBe(API_KEY.length);
		expect(seen?.length).toBe(API_KEY.length);
		expect(seen?.every((b) => b === 0)).toBe(true);

		let seenOnError: Uint8Array | undefined;
		await expect(
			withUnsealedKey(keyring, alice, sealed, async (_apiKey, bytes) => {
				seenOnError = bytes;
				throw new Error('provider call failed');
			})
		).rejects.toThrow('provider call failed');
		expect(seenOnError?.every((b) => b === 0)).toBe(true);
	});

	it('keys fingerprints by master key and subject, never a plain hash', async () => {
		const keyring = await createKeyring([masterA, masterB]);
		const bytes = keyBytes(API_KEY);
		const fa = keyFingerprint(keyring, 'a', alice, bytes);
		expect(fa).toHaveLength(32);
		expect(sameFingerprint(fa, keyFingerprint(keyring, 'a', alice, keyBytes(API_KEY)))).toBe(true);
		expect(sameFingerprint(fa, keyFingerprint(keyring, 'b', alice, bytes))).toBe(false);
		expect(sameFingerprint(fa, keyFingerprint(keyring, 'a', bob, bytes))).toBe(false);
		expect(sameFingerprint(fa, keyFingerprint(keyring, 'a', alice, keyBytes(`${API_KEY}x`)))).toBe(false);
		// Not a plain hash anyone could compute from a guessed key.
		const { createHash } = await import('node:crypto');
		const plainHashes = [
			createHash('sha256').update(API_KEY).digest(),
			Buffer.from(sodium.crypto_generichash(32, API_KEY, null))
		];
		for (const plain of plainHashes) expect(Buffer.from(fa).equals(plain)).toBe(false);
	});
});
