import type { ColumnType, Generated } from 'kysely';
import type { ProviderId } from '$lib/providers';
import type { CreatedAt, Timestamp } from './schema-columns';

// Limits, budgets and notifications (migrations 0003, 0007, 0008, 0020, 0022), apart from schema.ts
// to keep each file readable.
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

export interface LimitsTables {
	limit_settings: LimitSettingsTable;
	limit_hourly: LimitHourlyTable;
	limit_daily_spend: LimitDailySpendTable;
	limit_reservations: LimitReservationsTable;
	limit_model_caps: LimitModelCapsTable;
	limit_model_spend: LimitModelSpendTable;
	app_daily_spend: AppDailySpendTable;
	token_spend: TokenSpendTable;
	notifications: NotificationsTable;
}
