import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { ProviderId } from '$lib/providers';
import type { CatalogTables } from './schema-catalog';

/**
 * The one `Database` interface Kysely types every query with. Each table mirrors its migration
 * in `migrations/`; constraints live there. Sections follow the domains that own the tables.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

// ---- db ----------------------------------------------------------------------------------------
export interface SchemaMigrationsTable {
	name: string;
	checksum: string;
	applied_at: ColumnType<Date, Date | undefined, never>;
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

// ---- limits, notifications (migration 0003) ----------------------------------------------------
// The key source is spelled out here (not imported) so this file depends on nothing server-side.
type LimitsKeySource = 'user' | 'app';
type NullableNumber = ColumnType<number | null, number | null | undefined, number | null>;

export interface LimitSettingsTable {
	user_id: string;
	provider: ProviderId;
	key_source: LimitsKeySource;
	/** The user's own (lower) settings; NULL = not set. */
	requests_per_hour: NullableNumber;
	tokens_per_hour: NullableNumber;
	daily_cap_micros: NullableNumber;
	/** Ceilings an admin set; NULL = the configured default is the ceiling. */
	admin_requests_per_hour: NullableNumber;
	admin_tokens_per_hour: NullableNumber;
	admin_daily_cap_micros: NullableNumber;
	/** Weekly / monthly caps (migration 0022); NULL in both = no cap. */
	weekly_cap_micros: NullableNumber;
	monthly_cap_micros: NullableNumber;
	admin_weekly_cap_micros: NullableNumber;
	admin_monthly_cap_micros: NullableNumber;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A user's daily cap for one model id (migration 0022): theirs, within the admin's ceiling. */
export interface LimitModelCapsTable {
	user_id: string;
	model: string;
	daily_cap_micros: NullableNumber;
	admin_daily_cap_micros: NullableNumber;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Money per user, model and UTC day (migration 0022), like limit_daily_spend. */
export interface LimitModelSpendTable {
	user_id: string;
	model: string;
	day: ColumnType<Date, string, string>;
	settled_micros: ColumnType<number, number | undefined, number>;
	reserved_micros: ColumnType<number, number | undefined, number>;
}

export interface LimitHourlyTable {
	user_id: string;
	provider: ProviderId;
	key_source: LimitsKeySource;
	/** Start of the UTC hour. */
	window_start: Timestamp;
	requests: ColumnType<number, number | undefined, number>;
	/** Tokens of requests settled (real counts). */
	tokens: ColumnType<number, number | undefined, number>;
	/** Worst-case tokens of admitted requests not yet settled, released or reclaimed (migration 0007). */
	reserved_tokens: ColumnType<number, number | undefined, number>;
}

export interface LimitDailySpendTable {
	user_id: string;
	provider: ProviderId;
	key_source: LimitsKeySource;
	/** UTC day; select it as text (`to_char(day, 'YYYY-MM-DD')`), `pg` turns dates into local midnights. */
	day: ColumnType<Date, string, string>;
	settled_micros: ColumnType<number, number | undefined, number>;
	reserved_micros: ColumnType<number, number | undefined, number>;
}

export interface LimitReservationsTable {
	id: Generated<string>;
	request_id: string;
	user_id: string;
	provider: ProviderId;
	key_source: LimitsKeySource;
	day: ColumnType<Date, string, string>;
	window_start: Timestamp;
	amount_micros: number;
	/** Worst-case tokens reserved in the admission hour (migration 0007; 0 for older rows). */
	reserved_tokens: ColumnType<number, number | undefined, number>;
	created_at: CreatedAt;
	outcome: ColumnType<
		'settled' | 'released' | 'reclaimed' | null,
		'settled' | 'released' | 'reclaimed' | null | undefined,
		'settled' | 'released' | 'reclaimed' | null
	>;
	settled_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	reclaimed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	cost_micros: NullableNumber;
	tokens: NullableNumber;
	/** Took from the app key's daily budget (migration 0008). */
	counts_app_budget: ColumnType<boolean, boolean | undefined, boolean>;
	/** The access token the request came with (migration 0020). */
	token_id: ColumnType<string | null, string | null | undefined, string | null>;
	/** Took from that token's budget rows in `token_spend` (migration 0020). */
	counts_token_budget: ColumnType<boolean, boolean | undefined, boolean>;
	/** The request's model; counts_model_spend: took from its `limit_model_spend` row (migration 0022). */
	model: ColumnType<string | null, string | null | undefined, string | null>;
	counts_model_spend: ColumnType<boolean, boolean | undefined, boolean>;
}

/** A budgeted token's spend per UTC day or month (migration 0020). */
export interface TokenSpendTable {
	token_id: string;
	period: 'day' | 'month';
	period_start: ColumnType<Date, string, string>;
	settled_micros: ColumnType<number, number | undefined, number>;
	reserved_micros: ColumnType<number, number | undefined, number>;
}

/** The app key's spend per UTC day across all users, against APP_DAILY_BUDGET_USD (migration 0008). */
export interface AppDailySpendTable {
	day: ColumnType<Date, string, string>;
	settled_micros: ColumnType<number, number | undefined, number>;
	reserved_micros: ColumnType<number, number | undefined, number>;
}

export type NotificationKind =
	| 'cap_80'
	| 'cap_100'
	| 'hourly_80'
	| 'hourly_100'
	| 'key_paused'
	| 'key_invalid'
	| 'key_expiring'
	| 'app_budget_80'
	| 'app_budget_100'
	| 'unusual_usage';

export interface NotificationsTable {
	id: Generated<string>;
	user_id: string;
	kind: NotificationKind;
	provider: ProviderId;
	key_source: LimitsKeySource;
	window_key: string;
	message: string;
	created_at: CreatedAt;
	read_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

// ---- alerts: webhook and e-mail deliveries (migration 0019) ------------------------------------
export type AlertChannel = 'webhook' | 'email' | 'admin_webhook';
export type AlertDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface AlertSettingsTable {
	user_id: string;
	webhook_url: string | null;
	/** The webhook's signing secret, sealed like a provider key (subject: user, 'webhook'). */
	secret_master_key_id: string | null;
	secret_nonce: Uint8Array | null;
	secret_ciphertext: Uint8Array | null;
	email_enabled: ColumnType<boolean, boolean | undefined, boolean>;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface AlertDeliveriesTable {
	id: Generated<string>;
	/** Null for a test delivery. */
	notification_id: string | null;
	/** Null for the admins' channel. */
	user_id: string | null;
	channel: AlertChannel;
	status: ColumnType<AlertDeliveryStatus, AlertDeliveryStatus | undefined, AlertDeliveryStatus>;
	attempts: ColumnType<number, number | undefined, number>;
	next_attempt_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	last_http_status: number | null;
	last_error: string | null;
	created_at: CreatedAt;
	delivered_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface AlertDeliveryAttemptsTable {
	id: Generated<number>;
	delivery_id: string;
	attempt: number;
	attempted_at: CreatedAt;
	ok: boolean;
	http_status: number | null;
	error: string | null;
	duration_ms: number;
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

export interface Database extends CatalogTables {
	schema_migrations: SchemaMigrationsTable;
	users: UsersTable;
	invite_codes: InviteCodesTable;
	sessions: SessionsTable;
	auth_throttle: AuthThrottleTable;
	// vault, keys, audit (0002)
	provider_keys: ProviderKeysTable;
	audit_log: AuditLogTable;
	// admin blocks of key fingerprints (0010)
	blocked_key_fingerprints: BlockedKeyFingerprintsTable;
	// limits, notifications (0003)
	limit_settings: LimitSettingsTable;
	limit_hourly: LimitHourlyTable;
	limit_daily_spend: LimitDailySpendTable;
	limit_reservations: LimitReservationsTable;
	limit_model_caps: LimitModelCapsTable;
	limit_model_spend: LimitModelSpendTable;
	app_daily_spend: AppDailySpendTable;
	notifications: NotificationsTable;
	// alerts (0019)
	alert_settings: AlertSettingsTable;
	alert_deliveries: AlertDeliveriesTable;
	alert_delivery_attempts: AlertDeliveryAttemptsTable;
	// personal access tokens (0004)
	access_tokens: AccessTokensTable;
	token_spend: TokenSpendTable;
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
