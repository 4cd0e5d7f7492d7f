export {
	listKeys,
	activeKeysOf,
	getActiveKey,
	upsertKey,
	removeKey,
	setKeyActive,
	validateKey,
	recordCheck,
	withOpenedKey,
	routableKeysQuery,
	toRoutableKey,
	withRoutableKey,
	toMetadata,
	METADATA_COLUMNS,
	type MetadataRow,
	markKeyUsed,
	markKeyInvalid,
	RECHECK_AFTER_SECONDS,
	type KeyManagerDeps,
	type KeyHooks,
	type KeyActor,
	type KeyMetadata,
	type RoutableKey,
	type RoutableKeyRow,
	type UpsertedKey,
	type ValidatedKey
} from './manager';
export { checkProviderKey, normalizeProviderKey } from './provider';
export { KEY_CHECK_TIMEOUT_MS, type KeyCheck } from '$lib/server/providers';
export { upsertKeyInput, keyIdInput, setActiveInput, providerSchema, MAX_LABEL_LENGTH } from './schemas';
export {
	revalidateDueKeys,
	startBackgroundJobs,
	CLAIM_LEASE_SECONDS,
	type RevalidationDeps,
	type RevalidationSummary,
	type BackgroundJobs,
	type BackgroundJobOptions
} from './revalidate';
