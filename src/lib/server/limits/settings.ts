import { sql, type Kysely } from 'kysely';
import { providers, type Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import {
	keySources,
	type EffectiveLimits,
	type KeySource,
	type LimitDefaults,
	type LimitSettingValues,
	type LimitValues,
	type SourceLimits
} from './types';
import { nextMonthStart, nextWeekStart } from './period-caps';
import { getModelCaps } from './model-caps';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export const defaultsFor = (limits: LimitDefaults, keySource: KeySource): LimitValues => ({
	requestsPerHour: limits.requestsPerHour,
	tokensPerHour: limits.tokensPerHour,
	dailyCapMicros: keySource === 'user' ? limits.dailyCapMicros : limits.appDailyCapMicros,
	weeklyCapMicros: null,
	monthlyCapMicros: null
});

export interface SettingsRow {
	requests_per_hour: number | null;
	tokens_per_hour: number | null;
	daily_cap_micros: number | null;
	admin_requests_per_hour: number | null;
	admin_tokens_per_hour: number | null;
	admin_daily_cap_micros: number | null;
	weekly_cap_micros: number | null;
	monthly_cap_micros: number | null;
	admin_weekly_cap_micros: number | null;
	admin_monthly_cap_micros: number | null;
}

export const userSettingOf = (row: SettingsRow | undefined): LimitSettingValues => ({
	requestsPerHour: row?.requests_per_hour ?? null,
	tokensPerHour: row?.tokens_per_hour ?? null,
	dailyCapMicros: row?.daily_cap_micros ?? null,
	weeklyCapMicros: row?.weekly_cap_micros ?? null,
	monthlyCapMicros: row?.monthly_cap_micros ?? null
});

export const adminCeilingOf = (row: SettingsRow | undefined): LimitSettingValues => ({
	requestsPerHour: row?.admin_requests_per_hour ?? null,
	tokensPerHour: row?.admin_tokens_per_hour ?? null,
	dailyCapMicros: row?.admin_daily_cap_micros ?? null,
	weeklyCapMicros: row?.admin_weekly_cap_micros ?? null,
	monthlyCapMicros: row?.admin_monthly_cap_micros ?? null
});

/** The most a user may choose: the admin's ceiling where set, else the configured default. */
export function ceilingOf(admin: LimitSettingValues, defaults: LimitValues): LimitValues {
	return {
		requestsPerHour: admin.requestsPerHour ?? defaults.requestsPerHour,
		tokensPerHour: admin.tokensPerHour ?? defaults.tokensPerHour,
		dailyCapMicros: admin.dailyCapMicros ?? defaults.dailyCapMicros,
		weeklyCapMicros: admin.weeklyCapMicros ?? defaults.weeklyCapMicros,
		monthlyCapMicros: admin.monthlyCapMicros ?? defaults.monthlyCapMicros
	};
}

/** The lower of two caps where null is none (SQL least()). */
export const lowerCap = (a: number | null, b: number | null): number | null =>
	a === null ? b : b === null ? a : Math.min(a, b);

/** effective = least(user setting, ceiling), the admission statement's rule (least() ignores NULL). */
function effectiveOf(user: LimitSettingValues, ceiling: LimitValues): LimitValues {
	return {
		requestsPerHour: Math.min(user.requestsPerHour ?? Infinity, ceiling.requestsPerHour),
		tokensPerHour: Math.min(user.tokensPerHour ?? Infinity, ceiling.tokensPerHour),
		dailyCapMicros: Math.min(user.dailyCapMicros ?? Infinity, ceiling.dailyCapMicros),
		weeklyCapMicros: lowerCap(user.weeklyCapMicros, ceiling.weeklyCapMicros),
		monthlyCapMicros: lowerCap(user.monthlyCapMicros, ceiling.monthlyCapMicros)
	};
}

export const settingsColumns = [
	'requests_per_hour',
	'tokens_per_hour',
	'daily_cap_micros',
	'admin_requests_per_hour',
	'admin_tokens_per_hour',
	'admin_daily_cap_micros',
	'weekly_cap_micros',
	'monthly_cap_micros',
	'admin_weekly_cap_micros',
	'admin_monthly_cap_micros'
] as const;

/** The limits in force now for one provider and key source. */
export async function getLimitValues(
	db: Kysely<Database>,
	limits: LimitDefaults,
	userId: string,
	provider: Provider,
	keySource: KeySource
): Promise<LimitValues> {
	const row = await db
		.selectFrom('limit_settings')
		.select(settingsColumns)
		.where('user_id', '=', userId)
		.where('provider', '=', provider)
		.where('key_source', '=', keySource)
		.executeTakeFirst();
	return effectiveOf(userSettingOf(row), ceilingOf(adminCeilingOf(row), defaultsFor(limits, keySource)));
}

interface UsageRow extends SettingsRow {
	provider: Provider;
	key_source: KeySource;
	requests: number | null;
	tokens: number | null;
	reserved_tokens: number | null;
	settled_micros: number | null;
	reserved_micros: number | null;
	week_settled: number;
	week_reserved: number;
	month_settled: number;
	month_reserved: number;
	now: Date;
	hour_start: Date;
	day: string;
	week_start: string;
}

/** Settings and this hour's / today's counters for every (or one) provider and both key sources, in one query. */
async function usageRows(
	db: Kysely<Database>,
	userId: string,
	options: { provider?: Provider; now?: Date }
): Promise<UsageRow[]> {
	const wanted = options.provider ? [options.provider] : providers;
	const pairs = sql.join(
		wanted.flatMap((p, i) => keySources.map((k, j) => sql`(${p}::text, ${k}::text, ${i * 2 + j}::integer)`))
	);
	const result = await sql<UsageRow>`
		with
		clock as (select coalesce(${options.now ?? null}::timestamptz, now()) as ts),
		win as (
			select ts,
				date_trunc('hour', ts at time zone 'UTC') at time zone 'UTC' as hour_start,
				(ts at time zone 'UTC')::date as day,
				date_trunc('week', ts at time zone 'UTC')::date as week,
				date_trunc('month', ts at time zone 'UTC')::date as month
			from clock
		),
		pairs (provider, key_source, position) as (values ${pairs})
		select pairs.provider, pairs.key_source,
			s.requests_per_hour, s.tokens_per_hour, s.daily_cap_micros,
			s.admin_requests_per_hour, s.admin_tokens_per_hour, s.admin_daily_cap_micros,
			s.weekly_cap_micros, s.monthly_cap_micros, s.admin_weekly_cap_micros, s.admin_monthly_cap_micros,
			h.requests, h.tokens, h.reserved_tokens, d.settled_micros, d.reserved_micros,
			p.week_settled, p.week_reserved, p.month_settled, p.month_reserved,
			win.ts as now, win.hour_start, to_char(win.day, 'YYYY-MM-DD') as day,
			to_char(win.week, 'YYYY-MM-DD') as week_start
		from pairs cross join win
		cross join lateral (
			select
				coalesce(sum(x.settled_micros) filter (where x.day >= win.week), 0)::bigint as week_settled,
				coalesce(sum(x.reserved_micros) filter (where x.day >= win.week), 0)::bigint as week_reserved,
				coalesce(sum(x.settled_micros) filter (where x.day >= win.month), 0)::bigint as month_settled,
				coalesce(sum(x.reserved_micros) filter (where x.day >= win.month), 0)::bigint as month_reserved
			from limit_daily_spend x
			where x.user_id = ${userId}::uuid and x.provider = pairs.provider and x.key_source = pairs.key_source
				and x.day >= least(win.week, win.month) and x.day <= win.day
		) as p
		left join limit_settings s
			on s.user_id = ${userId}::uuid and s.provider = pairs.provider and s.key_source = pairs.key_source
		left join limit_hourly h
			on h.user_id = ${userId}::uuid and h.provider = pairs.provider and h.key_source = pairs.key_source
			and h.window_start = win.hour_start
		left join limit_daily_spend d
			on d.user_id = ${userId}::uuid and d.provider = pairs.provider and d.key_source = pairs.key_source
			and d.day = win.day
		order by pairs.position`.execute(db);
	return result.rows;
}

const dayEndOf = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS);

function sourceLimitsOf(row: UsageRow, limits: LimitDefaults): SourceLimits {
	const userSetting = userSettingOf(row);
	const adminCeiling = adminCeilingOf(row);
	const ceiling = ceilingOf(adminCeiling, defaultsFor(limits, row.key_source));
	const effective = effectiveOf(userSetting, ceiling);
	const settled = row.settled_micros ?? 0;
	const status = pausedState([
		{ settled, cap: effective.dailyCapMicros, resetsAt: dayEndOf(row.day) },
		{ settled: Number(row.week_settled), cap: effective.weeklyCapMicros, resetsAt: nextWeekStart(row.week_start) },
		{ settled: Number(row.month_settled), cap: effective.monthlyCapMicros, resetsAt: nextMonthStart(row.day) }
	]);
	return {
		keySource: row.key_source,
		...effective,
		userSetting,
		adminCeiling,
		ceiling,
		used: {
			requestsThisHour: row.requests ?? 0,
			tokensThisHour: row.tokens ?? 0,
			reservedTokensThisHour: row.reserved_tokens ?? 0,
			settledTodayMicros: settled,
			reservedTodayMicros: row.reserved_micros ?? 0,
			settledThisWeekMicros: Number(row.week_settled),
			reservedThisWeekMicros: Number(row.week_reserved),
			settledThisMonthMicros: Number(row.month_settled),
			reservedThisMonthMicros: Number(row.month_reserved)
		},
		paused: status.paused,
		pausedUntil: status.pausedUntil ?? null
	};
}

/**
 * Settled cost (not reservations, which may come back) reached a cap (daily, weekly or monthly);
 * derived, so it ends by itself: paused until the last of the reached caps resets, with no end
 * when one of them is $0.
 */
function pausedState(caps: { settled: number; cap: number | null; resetsAt: Date }[]): {
	paused: boolean;
	pausedUntil?: Date;
} {
	const reached = caps.filter((c) => c.cap !== null && c.settled >= c.cap);
	if (reached.length === 0) return { paused: false };
	if (reached.some((c) => c.cap === 0)) return { paused: true };
	return { paused: true, pausedUntil: new Date(Math.max(...reached.map((c) => c.resetsAt.getTime()))) };
}

/** Everything the limits gauges show, for every provider and both key sources, in one query. */
export async function getEffectiveLimits(
	db: Kysely<Database>,
	limits: LimitDefaults,
	userId: string,
	options: { now?: Date } = {}
): Promise<EffectiveLimits> {
	const rows = await usageRows(db, userId, { now: options.now });
	const first = rows[0];
	if (!first) throw new Error('limits query returned no rows');
	const bySource = (provider: Provider, keySource: KeySource) => {
		const row = rows.find((r) => r.provider === provider && r.key_source === keySource);
		if (!row) throw new Error(`limits query missed ${provider}/${keySource}`);
		return sourceLimitsOf(row, limits);
	};
	return {
		now: first.now,
		hourResetsAt: new Date(first.hour_start.getTime() + HOUR_MS),
		dayResetsAt: dayEndOf(first.day),
		weekResetsAt: nextWeekStart(first.week_start),
		monthResetsAt: nextMonthStart(first.day),
		modelCaps: await getModelCaps(db, userId, first.day),
		providers: providers.map((provider) => ({
			provider,
			own: bySource(provider, 'user'),
			app: bySource(provider, 'app')
		}))
	};
}
