import { randomFillSync } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import { VaultError } from './errors';
import type { Keyring, SealSubject, SealTarget } from './keyring';

/** What a `provider_keys` row stores for one key: never the plaintext. */
export interface SealedKey {
	masterKeyId: string;
	/** 24 random bytes, fresh for every seal. */
	nonce: Uint8Array;
	/** secretbox output: 16-byte Poly1305 tag + the key's bytes. */
	ciphertext: Uint8Array;
}

const NONCE_BYTES = 24;
const MAC_BYTES = 16;
export const FINGERPRINT_BYTES = 32;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** A key string as bytes the caller owns and must `memzero`. */
export function keyBytes(apiKey: string): Uint8Array {
	return utf8.encode(apiKey);
}

/**
 * Seals `plaintext` under the active master key's subkey for `subject`. The caller still owns
 * (and zeroes) `plaintext`; the derived subkey is zeroed here.
 */
export function sealKey(keyring: Keyring, subject: SealTarget, plaintext: Uint8Array): SealedKey {
	const masterKeyId = keyring.activeId;
	// Node's CSPRNG (OpenSSL): libsodium.js's randombytes_buf measured 20x slower per call here.
	const nonce = randomFillSync(new Uint8Array(NONCE_BYTES));
	const subkey = keyring.sealingKey(masterKeyId, subject);
	try {
		return { masterKeyId, nonce, ciphertext: sodium.crypto_secretbox_easy(plaintext, nonce, subkey) };
	} finally {
		sodium.memzero(subkey);
	}
}

/**
 * Opens a sealed key for `subject`: fresh plaintext bytes the caller must `memzero` (prefer
 * `withUnsealedKey`). Any failure is a `VaultError`; nothing about the key is in it.
 */
export function openKey(keyring: Keyring, subject: SealTarget, sealed: SealedKey): Uint8Array {
	if (sealed.nonce.length !== NONCE_BYTES || sealed.ciphertext.length <= MAC_BYTES) throw new VaultError('malformed');
	if (!keyring.has(sealed.masterKeyId)) throw new VaultError('unknown_master_key');
	const subkey = keyring.sealingKey(sealed.masterKeyId, subject);
	try {
		return sodium.crypto_secretbox_open_easy(sealed.ciphertext, sealed.nonce, subkey);
	} catch {
		throw new VaultError('cannot_open');
	} finally {
		sodium.memzero(subkey);
	}
}

/**
 * Opens a sealed key, runs `fn` with it as a string (the SDKs need one) and as the bytes it came
 * from, and zeroes those bytes afterwards, also when `fn` throws. The string cannot be wiped
 * (JavaScript strings are immutable); `fn` must not keep it.
 */
export async function withUnsealedKey<T>(
	keyring: Keyring,
	subject: SealTarget,
	sealed: SealedKey,
	fn: (apiKey: string, bytes: Uint8Array) => T | Promise<T>
): Promise<T> {
	const bytes = openKey(keyring, subject, sealed);
	try {
		let apiKey: string;
		try {
			apiKey = utf8Strict.decode(bytes);
		} catch {
			throw new VaultError('malformed');
		}
		return await fn(apiKey, bytes);
	} finally {
		sodium.memzero(bytes);
	}
}

/**
 * Keyed BLAKE2b of the key for duplicate checks, under a key derived from one master key and
 * scoped to the subject, so equal keys of two users do not show as equal fingerprints.
 */
export function keyFingerprint(
	keyring: Keyring,
	masterKeyId: string,
	subject: SealSubject,
	plaintext: Uint8Array
): Uint8Array {
	const state = sodium.crypto_generichash_init(keyring.fingerprintKey(masterKeyId), FINGERPRINT_BYTES);
	sodium.crypto_generichash_update(state, `${subject.userId}:${subject.provider}:`);
	sodium.crypto_generichash_update(state, plaintext);
	return sodium.crypto_generichash_final(state, FINGERPRINT_BYTES);
}

/** Constant-time comparison of two fingerprints. */
export function sameFingerprint(a: Uint8Array, b: Uint8Array): boolean {
	return a.length === b.length && sodium.memcmp(a, b);
}
