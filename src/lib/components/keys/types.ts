/** What the API keys page shows; built by its load function from the keys, limits, routing and usage domains. */
import type { ProviderId } from '$lib/providers';

export type { ProviderId };

/** A stored key's metadata (the server's `KeyMetadata`): never the key itself. */
export interface KeyView {
	id: string;
	provider: ProviderId;
	label: string | null;
	last4: string;
	status: 'valid' | 'invalid' | 'unverified';
	isActive: boolean;
	createdAt: Date;
	lastUsedAt: Date | null;
	lastValidatedAt: Date | null;
	lastErrorCode: string | null;
	/** An admin switched the key off (incident response); only replacing it brings it back. */
	disabledByAdmin: boolean;
	/** Past this moment the key is never used; null: it does not expire. */
	expiresAt: Date | null;
	/** Past `expiresAt` by the server's clock when the page loaded. */
	expired: boolean;
	/** Its place among the provider's keys (0 is tried first). */
	position: number;
	/** "Always use this key": nothing after it is tried. */
	pinned: boolean;
}

/** Limits in force for one key source of one provider, with today's and this hour's usage. */
export interface SourceLimitView {
	dailyCapMicros: number;
	/** The most the user may choose (an admin's ceiling, else the default). */
	ceilingDailyCapMicros: number;
	usedTodayMicros: number;
	requestsPerHour: number;
	ceilingRequestsPerHour: number;
	requestsThisHour: number;
	/** Weekly and monthly caps (null: none), their most allowed (null: no limit) and this week's / month's spend. */
	weeklyCapMicros: number | null;
	ceilingWeeklyCapMicros: number | null;
	usedThisWeekMicros: number;
	monthlyCapMicros: number | null;
	ceilingMonthlyCapMicros: number | null;
	usedThisMonthMicros: number;
	/** Today's cap is reached; it resumes at `pausedUntil` (null: a $0 cap, off until changed). */
	paused: boolean;
	pausedUntil: Date | null;
}

/** A daily cap on one model of the provider (issue 21), with today's spend on it. */
export interface ModelCapView {
	model: string;
	/** In force (null: none, only possible while an admin's ceiling is being cleared). */
	dailyCapMicros: number | null;
	adminCeiling: number | null;
	usedTodayMicros: number;
	paused: boolean;
}

export interface MonthUsage {
	requests: number;
	costMicros: number;
}

/** One provider's card: its key (if any), the fallback switch, the caps and this month's usage. */
export interface ProviderPanel {
	provider: ProviderId;
	/** The provider's first key (the one tried first). */
	key: KeyView | null;
	/** Every key of the provider, in the order they are tried, with what each served this month. */
	keys: (KeyView & { monthUsage?: MonthUsage })[];
	allowFallback: boolean;
	own: SourceLimitView;
	app: SourceLimitView;
	usage: { own: MonthUsage; app: MonthUsage };
	/** The user's daily caps on this provider's models. */
	modelCaps: ModelCapView[];
}

export type KeyAction = 'add' | 'test' | 'setActive' | 'setExpiry' | 'remove' | 'fallback' | 'limits';

/** The outcome of one of the page's changes, success or failure. */
export interface KeyActionResult {
	action: KeyAction;
	provider: ProviderId;
	ok: boolean;
	message: string;
	/** The input field the message is about, when it is about one. */
	field?: string | null;
}
