export { Keyring, createKeyring, type SealSubject, type SealTarget } from './keyring';
export {
	sealKey,
	openKey,
	withUnsealedKey,
	keyFingerprint,
	sameFingerprint,
	keyBytes,
	FINGERPRINT_BYTES,
	type SealedKey
} from './seal';
export { VaultError, isVaultError, type VaultFailure } from './errors';
export { loadKeyring, MASTER_KEY_FILE, type LoadKeyringOptions } from './load';
export { rotateKeys, type RotateKeysOptions, type RotationProgress, type RotationResult } from './rotation';
