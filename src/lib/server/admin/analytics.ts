import { sql, type Kysely } from 'kysely';
import { providers, type Provider } from '$lib/server/config';
import type { Database, KeySource } from '$lib/server/db';
import { startOfUtcDay } from '$lib/server/usage';
import { parseUtcRange } from '$lib/server/utc-range';
import { parseInput } from '$lib/server/validation';
import { adminAnalyticsInput } from './schemas';

/**
 * The figures the seed plan names, over a chosen period [from, to):
 * - BYOK adoption: of the users active in the period (at least one request), the share that holds
 *   a usable own key (status `valid` and switched on) now; also how many were actually served by
 *   an own key in the period.
 * - Validation success per provider: `key.validate` audit entries (user "Test" clicks and the
 *   daily revalidation) whose result was `valid`, out of all of them.
 * - Fallbacks: requests whose usage record has a `fallback_reason` (served by another key than the
 *   first choice, or every choice failed), and the reasons.
 * - Cost served by own keys versus the app's key: what own keys paid is what the app saved.
 * Rates are fractions from 0 to 1, or null when nothing was counted.
 */

export const ANALYTICS_DEFAULT_DAYS = 30 as const;
export const ANALYTICS_MAX_DAYS = 366;
const DAY_MS = 86_400_000;

export interface AdoptionFigures {
	activeUsers: number;
	activeUsersWithValidKey: number;
	activeUsersServedByOwnKey: number;
	rate: number | null;
	totalUsers: number;
	usersWithValidKey: number;
}

export interface ValidationFigures {
	provider: Provider;
	checks: number;
	valid: number;
	invalid: number;
	unverified: number;
	successRate: number | null;
}

export interface FallbackFigures {
	requests: number;
	fallbacks: number;
	rate: number | null;
	/** Most frequent first. */
	reasons: { reason: string; count: number }[];
}

export interface CostFigures {
	ownKeyRequests: number;
	appKeyRequests: number;
	ownKeyMicros: number;
	appKeyMicros: number;
	totalMicros: number;
	/** What own keys paid that the app's key would otherwise have paid. */
	savingsMicros: number;
	/** Share of the cost carried by own keys. */
	ownShare: number | null;
	byProvider: { provider: Provider; keySource: KeySource; requests: number; costMicros: number }[];
}

export interface DailyFigures {
	/** UTC day, YYYY-MM-DD. */
	day: string;
	ownKeyRequests: number;
	appKeyRequests: number;
	ownKeyMicros: number;
	appKeyMicros: number;
	fallbacks: number;
}

export interface AdminAnalytics {
	from: Date;
	to: Date;
	adoption: AdoptionFigures;
	validation: ValidationFigures[];
	fallback: FallbackFigures;
	cost: CostFigures;
	/** Every UTC day of the period, zeros included, for the charts. */
	daily: DailyFigures[];
}

const rate = (part: number, whole: number) => (whole > 0 ? part / whole : null);

export async function adminAnalytics(db: Kysely<Database>, input: unknown, now = new Date()): Promise<AdminAnalytics> {
	const bounds = parseInput(adminAnalyticsInput, input ?? {});
	const { from, to } = parseUtcRange(bounds, {
		defaultDays: ANALYTICS_DEFAULT_DAYS,
		maxDays: ANALYTICS_MAX_DAYS,
		now
	});
	const inPeriod = db.selectFrom('usage_records').where('created_at', '>=', from).where('created_at', '<', to);

	const [adoption, totals, validationRows, fallbackRows, costRows, dailyRows] = await Promise.all([
		db
			.with('active', () =>
				inPeriod.select(['user_id', sql<boolean>`bool_or(key_source = 'user')`.as('own')]).groupBy('user_id')
			)
			.selectFrom('active')
			.select([
				sql<number>`count(*)`.as('active'),
				sql<number>`count(*) filter (where exists (
					select 1 from provider_keys k
					where k.user_id = active.user_id and k.status = 'valid' and k.is_active
				))`.as('with_key'),
				sql<number>`count(*) filter (where own)`.as('served_by_own')
			])
			.executeTakeFirstOrThrow(),
		db
			.selectNoFrom([
				sql<number>`(select count(*) from users)`.as('users'),
				sql<number>`(select count(distinct user_id) from provider_keys where status = 'valid' and is_active)`.as(
					'with_key'
				)
			])
			.executeTakeFirstOrThrow(),
		db
			.selectFrom('audit_log')
			.select(['provider', sql<string | null>`details->>'result'`.as('result'), sql<number>`count(*)`.as('checks')])
			.where('action', '=', 'key.validate')
			.where('at', '>=', from)
			.where('at', '<', to)
			.where('provider', 'is not', null)
			.groupBy(['provider', sql`details->>'result'`])
			.execute(),
		inPeriod
			.select(['fallback_reason', sql<number>`count(*)`.as('requests')])
			.groupBy('fallback_reason')
			.execute(),
		inPeriod
			.select([
				'provider',
				'key_source',
				sql<number>`count(*)`.as('requests'),
				sql<number>`coalesce(sum(cost_micros), 0)::bigint`.as('cost_micros')
			])
			.groupBy(['provider', 'key_source'])
			.orderBy('provider')
			.orderBy('key_source')
			.execute(),
		inPeriod
			.select([
				sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD')`.as('day'),
				'key_source',
				sql<number>`count(*)`.as('requests'),
				sql<number>`count(*) filter (where fallback_reason is not null)`.as('fallbacks'),
				sql<number>`coalesce(sum(cost_micros), 0)::bigint`.as('cost_micros')
			])
			.groupBy([sql`1`, 'key_source'])
			.execute()
	]);

	const validation = providers.map((provider): ValidationFigures => {
		const count = (result: string) =>
			validationRows.filter((r) => r.provider === provider && r.result === result).reduce((n, r) => n + r.checks, 0);
		const checks = validationRows.filter((r) => r.provider === provider).reduce((n, r) => n + r.checks, 0);
		const valid = count('valid');
		return {
			provider,
			checks,
			valid,
			invalid: count('invalid'),
			unverified: count('unverified'),
			successRate: rate(valid, checks)
		};
	});

	const requests = fallbackRows.reduce((n, r) => n + r.requests, 0);
	const reasons = fallbackRows
		.filter((r): r is { fallback_reason: string; requests: number } => r.fallback_reason !== null)
		.map((r) => ({ reason: r.fallback_reason, count: r.requests }))
		.sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
	const fallbacks = reasons.reduce((n, r) => n + r.count, 0);

	const sumOf = (source: KeySource, pick: (r: (typeof costRows)[number]) => number) =>
		costRows.filter((r) => r.key_source === source).reduce((n, r) => n + pick(r), 0);
	const ownKeyMicros = sumOf('user', (r) => r.cost_micros);
	const appKeyMicros = sumOf('app', (r) => r.cost_micros);

	return {
		from,
		to,
		adoption: {
			activeUsers: adoption.active,
			activeUsersWithValidKey: adoption.with_key,
			activeUsersServedByOwnKey: adoption.served_by_own,
			rate: rate(adoption.with_key, adoption.active),
			totalUsers: totals.users,
			usersWithValidKey: totals.with_key
		},
		validation,
		fallback: { requests, fallbacks, rate: rate(fallbacks, requests), reasons },
		cost: {
			ownKeyRequests: sumOf('user', (r) => r.requests),
			appKeyRequests: sumOf('app', (r) => r.requests),
			ownKeyMicros,
			appKeyMicros,
			totalMicros: ownKeyMicros + appKeyMicros,
			savingsMicros: ownKeyMicros,
			ownShare: rate(ownKeyMicros, ownKeyMicros + appKeyMicros),
			byProvider: costRows.map((r) => ({
				provider: r.provider,
				keySource: r.key_source,
				requests: r.requests,
				costMicros: r.cost_micros
			}))
		},
		daily: everyDay(from, to).map((day) => {
			const own = dailyRows.find((r) => r.day === day && r.key_source === 'user');
			const app = dailyRows.find((r) => r.day === day && r.key_source === 'app');
			return {
				day,
				ownKeyRequests: own?.requests ?? 0,
				appKeyRequests: app?.requests ?? 0,
				ownKeyMicros: own?.cost_micros ?? 0,
				appKeyMicros: app?.cost_micros ?? 0,
				fallbacks: (own?.fallbacks ?? 0) + (app?.fallbacks ?? 0)
			};
		})
	};
}

export const ANALYTICS_PRESET_DAYS = [7, 30, 90] as const;
export type AnalyticsPresetDays = (typeof ANALYTICS_PRESET_DAYS)[number];

/** The overview's period as the page's query says: `?days=7|30|90` or `?from=&to=` (whole UTC days). */
export interface AnalyticsPeriod {
	/** A preset, or null for a custom period. */
	days: AnalyticsPresetDays | null;
	/** YYYY-MM-DD (or what the admin typed, for the form to show it again). */
	from: string;
	/** Inclusive. */
	to: string;
}

export function analyticsPeriodOf(query: URLSearchParams, now = new Date()): AnalyticsPeriod {
	const from = query.get('from')?.trim() ?? '';
	const to = query.get('to')?.trim() ?? '';
	if (!query.has('days') && (from || to)) return { days: null, from, to };
	const asked = Number(query.get('days'));
	const days = ANALYTICS_PRESET_DAYS.find((d) => d === asked) ?? ANALYTICS_DEFAULT_DAYS;
	const today = startOfUtcDay(now).getTime();
	const day = (t: number) => new Date(t).toISOString().slice(0, 10);
	return { days, from: day(today - (days - 1) * DAY_MS), to: day(today) };
}

/** The UTC days that [from, to) touches. */
function everyDay(from: Date, to: Date): string[] {
	const days: string[] = [];
	for (let t = startOfUtcDay(from).getTime(); t < to.getTime(); t += DAY_MS) {
		days.push(new Date(t).toISOString().slice(0, 10));
	}
	return days;
}
