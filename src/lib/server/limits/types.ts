import type { Config, Provider } from '$lib/server/config';
import type { NewNotification } from '$lib/server/notifications';

/**
 * 'user' = the user's own key for the provider; 'app' = the app's OpenRouter key serving a model
 * of that provider (it counts against the *model's* provider, e.g. `openai/gpt-4o-mini` served
 * through the app key is provider 'openai', key source 'app').
 */
export type KeySource = 'user' | 'app';
export const keySources: readonly KeySource[] = ['user', 'app'];

/** `config.limitDefaults`: what applies when neither the user nor an admin set a value. */
export type LimitDefaults = Config['limitDefaults'];

export interface AdmitRequest {
	userId: string;
	provider: Provider;
	keySource: KeySource;
	/** Worst-case cost of the request, computed by the caller (prompt tokens × input price + max output × output price). */
	reserveMicros: number;
	/** Worst-case tokens of the request, computed by the caller (prompt tokens counted with a tokenizer + max output tokens). */
	reserveTokens: number;
	/** Unique per request; admitting the same id twice returns the first admission. */
	requestId: string;
	/** The model id (`provider/model`): its day's spend is counted, and its daily cap (if any) holds. */
	model?: string | null;
	/** The access token of an API request: its own budgets (if any) hold this request too. */
	tokenId?: string | null;
	/** Tests only: the moment of admission (defaults to the database's clock, shared by every instance). */
	now?: Date;
}

/** The limits in force for one provider and key source. */
export interface LimitValues {
	requestsPerHour: number;
	tokensPerHour: number;
	dailyCapMicros: number;
	/** Per UTC week (Monday to Monday) and UTC month; null = no cap. */
	weeklyCapMicros: number | null;
	monthlyCapMicros: number | null;
}

export interface Admission {
	reservationId: string;
	requestId: string;
	userId: string;
	provider: Provider;
	keySource: KeySource;
	reservedMicros: number;
	/** Worst-case tokens held in the admission hour until settle, release or reclaim. */
	reservedTokens: number;
	/** Start of the UTC hour the request counts in (its tokens are added to this hour at settle). */
	windowHour: Date;
	/** UTC day (YYYY-MM-DD) the request's cost counts in. */
	day: string;
	/** The limits at admission; settle uses them to notice a threshold being crossed. */
	limits: LimitValues;
	/** The request's model and that model's daily cap (null: none) at admission (settle notifies at 80 % / 100 %). */
	model: string | null;
	modelDailyCapMicros: number | null;
	/** The app key's daily budget it counts against, if any (settle tells admins when it runs low). */
	appBudgetMicros: number | null;
	/** The notifications admitting it made due (the caller sends them). */
	crossed: readonly NewNotification[];
}

export interface ActualUsage {
	costMicros: number;
	totalTokens: number;
}

export interface ReclaimedReservation {
	reservationId: string;
	requestId: string;
	userId: string;
	provider: Provider;
	keySource: KeySource;
	day: string;
	amountMicros: number;
	/** The worst-case tokens given back to the admission hour. */
	reservedTokens: number;
	createdAt: Date;
}

/** Nullable per-field settings as stored (NULL = not set). */
export interface LimitSettingValues {
	requestsPerHour: number | null;
	tokensPerHour: number | null;
	dailyCapMicros: number | null;
	weeklyCapMicros: number | null;
	monthlyCapMicros: number | null;
}

export interface SourceLimits extends LimitValues {
	keySource: KeySource;
	/** What the user chose for themselves (null = not set). */
	userSetting: LimitSettingValues;
	/** What an admin set (null = not set, the configured default is the ceiling). */
	adminCeiling: LimitSettingValues;
	/** The highest value the user may choose: the admin's ceiling, else the default. */
	ceiling: LimitValues;
	used: {
		requestsThisHour: number;
		/** Tokens of requests settled this hour (what the gauges show as used). */
		tokensThisHour: number;
		/** Worst-case tokens of requests still running this hour (held, not used: they come back at settle). */
		reservedTokensThisHour: number;
		settledTodayMicros: number;
		reservedTodayMicros: number;
		/** This UTC week's and month's spend so far (today included). */
		settledThisWeekMicros: number;
		reservedThisWeekMicros: number;
		settledThisMonthMicros: number;
		reservedThisMonthMicros: number;
	};
	paused: boolean;
	pausedUntil: Date | null;
}

export interface ProviderLimits {
	provider: Provider;
	/** The user's own key. */
	own: SourceLimits;
	/** The app's key. */
	app: SourceLimits;
}

export interface EffectiveLimits {
	now: Date;
	/** When the hourly counters restart (next UTC hour). */
	hourResetsAt: Date;
	/** When the daily caps restart (next UTC midnight). */
	dayResetsAt: Date;
	/** When the weekly caps restart (next Monday 00:00 UTC) and the monthly ones (the 1st, 00:00 UTC). */
	weekResetsAt: Date;
	monthResetsAt: Date;
	providers: ProviderLimits[];
	/** The user's per-model daily caps, with today's spend on each model. */
	modelCaps: ModelCap[];
}

export interface ModelCap {
	model: string;
	/** In force: the lower of the user's setting and the admin's ceiling; null = none (only a ceiling cleared). */
	dailyCapMicros: number | null;
	userSetting: number | null;
	adminCeiling: number | null;
	settledTodayMicros: number;
	reservedTodayMicros: number;
	paused: boolean;
}
