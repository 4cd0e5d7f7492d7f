import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { ProviderId } from '$lib/providers';
import type { AlertsTables } from './schema-alerts';
import type { CatalogTables } from './schema-catalog';
import type { CreatedAt, Timestamp } from './schema-columns';
import type { LimitsTables } from './schema-limits';

/**
 * The one `Database` interface Kysely types every query with. Each table mirrors its migration
 * in `migrations/`; constraints live there. Sections follow the domains that own the tables.
 */

// ---- db ----------------------------------------------------------------------------------------
export interface SchemaMigrationsTable {
	name: string;
	checksum: string;
	applied_at: ColumnType<Date, Date | undefined, never>;
}

/** The checksum of each function definition as last applied (`migrations/functions`). */
export interface SchemaDefinitionsTable {
	name: string;
	checksum: string;
	applied_at: ColumnType<Date, Date | undefined, Date>;
}

// ---- auth --------------------------------------------------------------------------------------
export type Role = 'user' | 'admin';

export interface UsersTable {
	id: Generated<string>;
	email: string;
	password_hash: string;
	role: ColumnType<Role, Role | undefined, Role>;
	created_at: CreatedAt;
	password_changed_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface SessionsTable {
	/** SHA-256 of the session id the cookie carries, so a database leak yields no usable session. */
	id: string;
	user_id: string;
	expires_at: Timestamp;
	created_at: CreatedAt;
}

export interface AuthThrottleTable {
	/** `email:<normalized email>` or `ip:<address>`. */
	key: string;
	failures: number;
	window_started_at: Timestamp;
}

// ---- vault, keys, audit (migration 0002) --------------------------------------------------------
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

/** valid: the provider accepted it; invalid: 401/403; unverified: never answered definitively. */
export type KeyStatus = 'valid' | 'invalid' | 'unverified';

/** One sealed key per user and provider (replacing deletes the old row in the same transaction). */
export interface ProviderKeysTable {
	id: Generated<string>;
	user_id: string;
	provider: ProviderId;
	label: string | null;
	last4: string;
	/** secretbox output (tag + key) under the subkey of (master_key_id, user_id, provider). */
	ciphertext: Uint8Array;
	nonce: Uint8Array;
	master_key_id: string;
	/** Keyed BLAKE2b under a key derived from master_key_id; for duplicate checks. */
	fingerprint: Uint8Array;
	status: KeyStatus;
	is_active: ColumnType<boolean, boolean | undefined, boolean>;
	last_error_code: string | null;
	created_at: CreatedAt;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
	last_used_at: NullableTimestamp;
	last_validated_at: NullableTimestamp;
	next_validation_at: Timestamp;
	/** Set when an admin switched the key off; the owner can then only replace it (migration 0006). */
	disabled_by_admin_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	/** Past this moment routing never uses the key; null: it does not expire (migration 0018). */
	expires_at: NullableTimestamp;
	/** When to warn the owner of the coming expiry; null once warned, or without expiry. */
	expiry_warn_at: NullableTimestamp;
	/** Order among the provider's keys (0021). */
	position: Generated<number>;
	pinned: Generated<boolean>;
}

/** Fingerprints of keys an admin switched off: refused on upsert until lifted (migration 0010). */
export interface BlockedKeyFingerprintsTable {
	user_id: string;
	provider: ProviderId;
	master_key_id: string;
	fingerprint: Uint8Array;
	last4: string;
	key_id: string;
	blocked_by: string | null;
	blocked_at: CreatedAt;
}

/** Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE. Write with audit's `recordAudit`. */
export interface AuditLogTable {
	id: Generated<number>;
	at: CreatedAt;
	actor_user_id: string | null;
	subject_user_id: string | null;
	action: string;
	provider: ProviderId | null;
	key_id: string | null;
	ip: string | null;
	/** jsonb object; written as a JSON string. */
	details: ColumnType<Record<string, unknown>, string | undefined, never>;
}

// ---- personal access tokens (migration 0004) ---------------------------------------------------
export interface AccessTokensTable {
	id: Generated<string>;
	user_id: string;
	/** 1–100 characters, trimmed. */
	name: string;
	/** The public part of the token (`lk_<lookup_id>_<secret>`), unique; shown as its prefix. */
	lookup_id: string;
	/** SHA-256 (hex) of the whole token; the token itself is never stored. */
	token_hash: string;
	created_at: CreatedAt;
	last_used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	/** Model ids or `prefix*` patterns the token may use; null = every model (migration 0020). */
	model_scope: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
	daily_budget_micros: ColumnType<number | null, number | null | undefined, number | null>;
	monthly_budget_micros: ColumnType<number | null, number | null | undefined, number | null>;
}

// ---- usage, conversations (migration 0005) -----------------------------------------------------
export type KeySource = 'user' | 'app';
export type ProviderName = ProviderId;

export interface UsageRecordsTable {
	id: Generated<number>;
	request_id: string;
	user_id: string;
	provider: ProviderName;
	model: string;
	key_source: KeySource;
	served_by: ProviderName | null;
	api: 'web' | 'openai';
	success: boolean;
	error_code: string | null;
	fallback_reason: string | null;
	prompt_tokens: ColumnType<number, number | undefined, number>;
	completion_tokens: ColumnType<number, number | undefined, number>;
	cost_micros: ColumnType<number, number | undefined, number>;
	estimated: ColumnType<boolean, boolean | undefined, boolean>;
	/** Parts of prompt_tokens / completion_tokens (0014). */
	cached_read_tokens: ColumnType<number, number | undefined, number>;
	cache_write_tokens: ColumnType<number, number | undefined, number>;
	reasoning_tokens: ColumnType<number, number | undefined, number>;
	cost_known: ColumnType<boolean, boolean | undefined, boolean>;
	latency_ms: number | null;
	ttft_ms: number | null;
	created_at: CreatedAt;
	/** The access token of an API request; null for the web chat (migration 0020). */
	token_id: ColumnType<string | null, string | null | undefined, string | null>;
	/** The user's key that served an own-key request (migration 0023). */
	key_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface RoutingPreferencesTable {
	user_id: string;
	provider: ProviderName;
	allow_fallback: boolean;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ConversationsTable {
	id: Generated<string>;
	user_id: string;
	title: string;
	model: string;
	/** '' when the conversation has none (0016). */
	system_prompt: Generated<string>;
	created_at: CreatedAt;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface MessagesTable {
	id: Generated<string>;
	conversation_id: string;
	role: 'user' | 'assistant';
	content: string;
	model: string | null;
	provider: ProviderName | null;
	key_source: KeySource | null;
	request_id: string | null;
	prompt_tokens: number | null;
	completion_tokens: number | null;
	cost_micros: number | null;
	estimated: boolean | null;
	error_code: string | null;
	error_message: string | null;
	fallback_reason: string | null;
	/** The message this one follows; null for a conversation's first (0016). */
	parent_id: string | null;
	created_at: CreatedAt;
}

/** An image attached to a user message (0016). */
export interface MessageImagesTable {
	message_id: string;
	position: number;
	media_type: string;
	data: Uint8Array;
}

/** Invitations to sign up (migration 0011): only the code's SHA-256 is stored. */
export interface InviteCodesTable {
	id: Generated<string>;
	code_hash: string;
	note: string | null;
	created_by: string | null;
	created_at: CreatedAt;
	expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	used_by: string | null;
	used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface Database extends CatalogTables, LimitsTables, AlertsTables {
	schema_migrations: SchemaMigrationsTable;
	schema_definitions: SchemaDefinitionsTable;
	users: UsersTable;
	invite_codes: InviteCodesTable;
	sessions: SessionsTable;
	auth_throttle: AuthThrottleTable;
	// vault, keys, audit (0002)
	provider_keys: ProviderKeysTable;
	audit_log: AuditLogTable;
	// admin blocks of key fingerprints (0010)
	blocked_key_fingerprints: BlockedKeyFingerprintsTable;
	// personal access tokens (0004)
	access_tokens: AccessTokensTable;
	// usage, conversations (0005)
	usage_records: UsageRecordsTable;
	routing_preferences: RoutingPreferencesTable;
	conversations: ConversationsTable;
	messages: MessagesTable;
	message_images: MessageImagesTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
