import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import type { Provider } from '$lib/server/config';
import { notify } from '$lib/server/notifications';
import { formatUsd } from '$lib/money';

/**
 * Unusual usage: a user's last 60 minutes against their own typical hour, the median over the
 * hours of the previous 7 days in which they used Latchkey at all (counting idle hours would make
 * the median 0 for most people, and every busy hour "unusual"). Floors keep small numbers quiet:
 * 5× of two requests is not worth an alert.
 */
export interface UnusualUsageRules {
	factor: number;
	minRequests: number;
	minSpendMicros: number;
}

export const UNUSUAL_USAGE_RULES: UnusualUsageRules = { factor: 5, minRequests: 20, minSpendMicros: 500_000 };

export interface UsageHourStats {
	userId: string;
	email: string;
	requestsLastHour: number;
	spendMicrosLastHour: number;
	medianRequests: number;
	medianSpendMicros: number;
	/** Hours with any usage in the 7 days before the last hour. */
	activeHours: number;
	/** The provider and key source that spent most in the last hour (what the notification names). */
	provider: Provider;
	keySource: 'user' | 'app';
	unusual: boolean;
}

interface StatsRow {
	user_id: string;
	email: string;
	requests: number;
	spend_micros: number;
	median_requests: number;
	median_spend_micros: number;
	active_hours: number;
	provider: Provider;
	key_source: 'user' | 'app';
}

/** Every user who used Latchkey in the last hour, with their own baseline; biggest spenders first. */
export async function lastHourAgainstBaseline(
	db: Kysely<Database>,
	rules: UnusualUsageRules = UNUSUAL_USAGE_RULES,
	limit = 50
): Promise<UsageHourStats[]> {
	const result = await sql<StatsRow>`
		with recent as (
			select user_id, count(*)::int as requests, coalesce(sum(cost_micros), 0)::bigint as spend_micros
			from usage_records
			where created_at > now() - interval '1 hour'
			group by user_id
		),
		hours as (
			select u.user_id, date_trunc('hour', u.created_at) as hour, count(*) as requests, sum(u.cost_micros) as spend
			from usage_records u
			join recent r on r.user_id = u.user_id
			where u.created_at > now() - interval '7 days 1 hour' and u.created_at <= now() - interval '1 hour'
			group by 1, 2
		),
		baseline as (
			select user_id,
				percentile_cont(0.5) within group (order by requests) as median_requests,
				percentile_cont(0.5) within group (order by spend) as median_spend_micros,
				count(*)::int as active_hours
			from hours
			group by user_id
		),
		top as (
			select distinct on (user_id) user_id, provider, key_source
			from usage_records
			where created_at > now() - interval '1 hour'
			group by user_id, provider, key_source
			order by user_id, sum(cost_micros) desc, count(*) desc
		)
		select r.user_id, users.email, r.requests, r.spend_micros,
			coalesce(b.median_requests, 0)::float8 as median_requests,
			coalesce(b.median_spend_micros, 0)::float8 as median_spend_micros,
			coalesce(b.active_hours, 0) as active_hours,
			t.provider, t.key_source
		from recent r
		join users on users.id = r.user_id
		join top t on t.user_id = r.user_id
		left join baseline b on b.user_id = r.user_id
		order by r.spend_micros desc, r.requests desc
		limit ${limit}`.execute(db);
	return result.rows.map((row) => {
		const stats = {
			userId: row.user_id,
			email: row.email,
			requestsLastHour: Number(row.requests),
			spendMicrosLastHour: Number(row.spend_micros),
			medianRequests: Number(row.median_requests),
			medianSpendMicros: Number(row.median_spend_micros),
			activeHours: Number(row.active_hours),
			provider: row.provider,
			keySource: row.key_source
		};
		return { ...stats, unusual: isUnusual(stats, rules) };
	});
}

function isUnusual(
	stats: Pick<UsageHourStats, 'requestsLastHour' | 'spendMicrosLastHour' | 'medianRequests' | 'medianSpendMicros'>,
	rules: UnusualUsageRules
): boolean {
	const requests =
		stats.requestsLastHour >= rules.minRequests && stats.requestsLastHour > rules.factor * stats.medianRequests;
	const spend =
		stats.spendMicrosLastHour >= rules.minSpendMicros &&
		stats.spendMicrosLastHour > rules.factor * stats.medianSpendMicros;
	return requests || spend;
}

/**
 * Raises `unusual_usage` for each user whose last hour is unusual, at most once per user and
 * UTC hour (the notification's window); returns how many were new.
 */
export async function notifyUnusualUsage(
	db: Kysely<Database>,
	rules: UnusualUsageRules = UNUSUAL_USAGE_RULES,
	now = new Date()
): Promise<number> {
	const unusual = (await lastHourAgainstBaseline(db, rules, 1000)).filter((stats) => stats.unusual);
	const hour = `${now.toISOString().slice(0, 13)}:00Z`;
	return notify(
		db,
		unusual.map((stats) => ({
			userId: stats.userId,
			kind: 'unusual_usage' as const,
			provider: stats.provider,
			keySource: stats.keySource,
			windowKey: `unusual:${hour}`,
			message: unusualMessage(stats)
		}))
	);
}

function unusualMessage(stats: UsageHourStats): string {
	const typical =
		stats.activeHours === 0
			? 'you had no usage in the 7 days before'
			: `a typical hour of yours in the last 7 days is ${Math.round(stats.medianRequests)} requests and ${formatUsd(stats.medianSpendMicros)}`;
	return `Unusual usage: ${stats.requestsLastHour} requests and ${formatUsd(stats.spendMicrosLastHour)} in the last hour; ${typical}. If this was not you, revoke your access tokens and check your keys.`;
}
