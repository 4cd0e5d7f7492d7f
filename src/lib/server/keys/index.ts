export {
	toMetadata,
	keyExpiredSql,
	METADATA_COLUMNS,
	RECHECK_AFTER_SECONDS,
	type MetadataRow,
	type KeyManagerDeps,
	type KeyHooks,
	type KeyActor,
	type KeyMetadata
} from './metadata';
export { listKeys, activeKeysOf, upsertKey, removeKey, setKeyActive, type UpsertedKey } from './store';
export { validateKey, recordCheck, type ValidatedKey } from './validate';
export {
	routableKeysQuery,
	toRoutableKey,
	withRoutableKey,
	markKeyUsed,
	type RoutableKey,
	type RoutableKeyRow
} from './routable';
export { markKeyInvalid } from './invalidate';
export { blockKeyFingerprints, liftKeyBlock } from './blocks';
export { checkProviderKey, normalizeProviderKey } from './provider';
export { KEY_CHECK_TIMEOUT_MS, type KeyCheck } from '$lib/server/providers';
export { fallbackNotice } from './notices';
export {
	upsertKeyInput,
	keyIdInput,
	setActiveInput,
	setExpiryInput,
	providerSchema,
	MAX_LABEL_LENGTH,
	EXPIRY_CHOICES,
	MAX_KEYS_PER_PROVIDER,
	reorderKeysInput,
	setPinnedInput,
	type ExpiryChoice
} from './schemas';
export { setKeyExpiry, warnExpiringKeys, expiryNotice } from './expiry';
export {
	revalidateDueKeys,
	startBackgroundJobs,
	countProviderKeysDue,
	markProviderKeysDue,
	CLAIM_LEASE_SECONDS,
	type RevalidationDeps,
	type RevalidationSummary,
	type ProviderKeysDue,
	type BackgroundJobs,
	type BackgroundJobOptions
} from './revalidate';
export { CONNECT_LABEL, finishOpenRouterConnect, startOpenRouterConnect, VERIFIER_COOKIE } from './openrouter-connect';
export { reorderKeys, setKeyPinned } from './order';
