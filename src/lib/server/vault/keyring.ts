import sodium from 'libsodium-wrappers';
import type { MasterKey, Provider } from '$lib/server/config';
import { VaultError } from './errors';

/** Whose key a sealed value is: the subkey, and so the ciphertext, is bound to both. */
export interface SealSubject {
	userId: string;
	provider: Provider;
}

/**
 * Anything sealed for a user: a provider key, or their alert webhook's signing secret
 * (`alert_webhook` is no provider's id, so the two derive different subkeys).
 */
export type SealTarget = SealSubject | { userId: string; provider: 'alert_webhook' };

const MASTER_KEY_BYTES = 32;
/** Context strings keep the seal and fingerprint derivations apart; `v1` leaves room to change them. */
const SEAL_CONTEXT = 'latchkey:seal:v1:';
const FINGERPRINT_CONTEXT = 'latchkey:fingerprint:v1';

/**
 * The master keys, in `MASTER_KEYS` order: the first seals, all open. Holds private copies of
 * the key bytes and hands out only derived keys, to the vault's own functions.
 */
export class Keyring {
	readonly activeId: string;
	readonly ids: readonly string[];
	readonly #keys: Map<string, Uint8Array>;
	readonly #fingerprintKeys = new Map<string, Uint8Array>();

	private constructor(masterKeys: readonly MasterKey[]) {
		const first = masterKeys[0];
		if (!first) throw new Error('a keyring needs at least one master key');
		this.#keys = new Map();
		for (const { id, key } of masterKeys) {
			if (key.length !== MASTER_KEY_BYTES) throw new Error(`master key "${id}" must be ${MASTER_KEY_BYTES} bytes`);
			if (this.#keys.has(id)) throw new Error(`master key id "${id}" is listed twice`);
			this.#keys.set(id, Uint8Array.from(key));
		}
		this.activeId = first.id;
		this.ids = masterKeys.map((k) => k.id);
	}

	/** Waits for libsodium, so every function taking a keyring may call it synchronously. */
	static async create(masterKeys: readonly MasterKey[]): Promise<Keyring> {
		await sodium.ready;
		return new Keyring(masterKeys);
	}

	has(masterKeyId: string): boolean {
		return this.#keys.has(masterKeyId);
	}

	/**
	 * The secretbox key for one (master key, user, provider): keyed BLAKE2b of a context string.
	 * A fresh array the caller must `memzero`.
	 */
	sealingKey(masterKeyId: string, subject: SealTarget): Uint8Array {
		// A ':' in the user id could make two subjects derive the same context string.
		if (subject.userId.length === 0 || subject.userId.includes(':')) throw new Error('invalid user id for sealing');
		return sodium.crypto_generichash(
			32,
			`${SEAL_CONTEXT}${subject.userId}:${subject.provider}`,
			this.#master(masterKeyId)
		);
	}

	/** The BLAKE2b key for fingerprints under one master key (cached; never zeroed by callers). */
	fingerprintKey(masterKeyId: string): Uint8Array {
		let key = this.#fingerprintKeys.get(masterKeyId);
		if (!key) {
			key = sodium.crypto_generichash(32, FINGERPRINT_CONTEXT, this.#master(masterKeyId));
			this.#fingerprintKeys.set(masterKeyId, key);
		}
		return key;
	}

	/** Wipes this keyring's copies of master and derived keys; it is unusable afterwards. */
	destroy(): void {
		for (const key of this.#keys.values()) sodium.memzero(key);
		for (const key of this.#fingerprintKeys.values()) sodium.memzero(key);
		this.#keys.clear();
		this.#fingerprintKeys.clear();
	}

	#master(masterKeyId: string): Uint8Array {
		const key = this.#keys.get(masterKeyId);
		if (!key) throw new VaultError('unknown_master_key');
		return key;
	}
}

export const createKeyring = (masterKeys: readonly MasterKey[]): Promise<Keyring> => Keyring.create(masterKeys);
