import { AppError } from '$lib/server/errors';

/**
 * Why a sealed key could not be opened. Deliberately coarse: secretbox cannot tell a wrong master
 * key from a wrong user, a wrong provider or a tampered nonce or ciphertext, and neither should
 * anything downstream.
 */
export type VaultFailure =
	/** The row names a master key id the keyring does not hold (removed from MASTER_KEYS too early). */
	| 'unknown_master_key'
	/** Authentication failed: wrong key, wrong user or provider, or tampered nonce or ciphertext. */
	| 'cannot_open'
	/** The stored nonce or ciphertext has an impossible length. */
	| 'malformed';

const MESSAGES: Record<VaultFailure, string> = {
	unknown_master_key:
		'This stored key was sealed with a master key the server no longer has. Remove it and add it again, or ask the operator to restore the old master key.',
	cannot_open: 'This stored key can no longer be unsealed. Remove it and add it again.',
	malformed: 'This stored key is damaged. Remove it and add it again.'
};

/**
 * A typed vault error. It is an `AppError` (500, reason `vault_<failure>`) so that, should it reach
 * a client, the message is the safe sentence above; it never carries key material or master keys.
 */
export class VaultError extends AppError {
	override name = 'VaultError';

	constructor(readonly failure: VaultFailure) {
		super('internal', MESSAGES[failure], { reason: `vault_${failure}` });
	}
}

export function isVaultError(error: unknown): error is VaultError {
	return error instanceof VaultError;
}
