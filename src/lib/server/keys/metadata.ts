import { sql, type Kysely } from 'kysely';
import type { Config, Provider } from '$lib/server/config';
import type { Database, KeyStatus } from '$lib/server/db';
import { notFound } from '$lib/server/errors';
import type { Keyring } from '$lib/server/vault';

/** Observers of live key checks (metrics); optional, and they must not throw. */
export interface KeyHooks {
	checked?(info: { provider: Provider; result: KeyStatus; trigger: 'add' | 'user' | 'scheduled' }): void;
}

/** What the key store needs; `Services` has all of it. */
export interface KeyManagerDeps {
	db: Kysely<Database>;
	config: Pick<Config, 'baseUrls'>;
	keyring: Keyring;
	keyHooks?: KeyHooks;
}

/** Who is acting, from the request: every query is scoped to `userId`. */
export interface KeyActor {
	userId: string;
	ip: string | null;
}

/** Everything a client may see about a stored key: never the key, its ciphertext or fingerprint. */
export interface KeyMetadata {
	id: string;
	provider: Provider;
	label: string | null;
	last4: string;
	status: KeyStatus;
	isActive: boolean;
	createdAt: Date;
	lastUsedAt: Date | null;
	lastValidatedAt: Date | null;
	lastErrorCode: string | null;
	/** An admin switched this key off; only replacing it brings the provider back. */
	disabledByAdmin: boolean;
	/** Past this moment routing never uses the key; null: it does not expire. */
	expiresAt: Date | null;
	/** Past `expiresAt` (by the database clock where the query judged it). */
	expired: boolean;
	/** Its place among the provider's keys: 0 is tried first. */
	position: number;
	/** "Always use this key": routing never goes past it to a later key or the app key. */
	pinned: boolean;
}

const HOUR = 3600;
/** Definitive answers are rechecked daily; keys nobody could check yet, hourly. */
export const RECHECK_AFTER_SECONDS: Record<KeyStatus, number> = {
	valid: 24 * HOUR,
	invalid: 24 * HOUR,
	unverified: HOUR
};

/** The only columns read for metadata: ciphertext, nonce and fingerprint stay in the database. */
export const METADATA_COLUMNS = [
	'id',
	'provider',
	'label',
	'last4',
	'status',
	'is_active',
	'created_at',
	'last_used_at',
	'last_validated_at',
	'last_error_code',
	'disabled_by_admin_at',
	'expires_at',
	'position',
	'pinned'
] as const;

export interface MetadataRow {
	id: string;
	provider: Provider;
	label: string | null;
	last4: string;
	status: KeyStatus;
	is_active: boolean;
	created_at: Date;
	last_used_at: Date | null;
	last_validated_at: Date | null;
	last_error_code: string | null;
	disabled_by_admin_at: Date | null;
	expires_at: Date | null;
	position: number;
	pinned: boolean;
	/** Set by queries that select `keyExpiredSql`; otherwise judged by this process's clock. */
	expired?: boolean;
}

export function toMetadata(row: MetadataRow): KeyMetadata {
	return {
		id: row.id,
		provider: row.provider,
		label: row.label,
		last4: row.last4,
		status: row.status,
		isActive: row.is_active,
		createdAt: row.created_at,
		lastUsedAt: row.last_used_at,
		lastValidatedAt: row.last_validated_at,
		lastErrorCode: row.last_error_code,
		disabledByAdmin: row.disabled_by_admin_at !== null,
		expiresAt: row.expires_at,
		expired: row.expired ?? (row.expires_at !== null && row.expires_at.getTime() <= Date.now()),
		position: row.position,
		pinned: row.pinned
	};
}

/**
 * The key is past its expiry, by the database clock: routing's first statement filters on it and
 * selects it for the plan, so both judge a key at the same instant.
 */
export const keyExpiredSql = sql<boolean>`coalesce(provider_keys.expires_at <= now(), false)`;

export const secondsFromNow = (seconds: number) => sql<Date>`now() + make_interval(secs => ${seconds})`;

export const keyNotFound = () => notFound('No such key. It may have been removed; reload the list.');
