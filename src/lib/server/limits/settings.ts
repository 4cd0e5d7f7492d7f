import { z } from 'zod';
import { sql, type Kysely, type Transaction, type Updateable } from 'kysely';
import { formatUsd, usdToMicros } from '$lib/money';
import { providerName } from '$lib/providers';
import { providers, type Provider } from '$lib/server/config';
import type { Database, LimitSettingsTable } from '$lib/server/db';
import { recordAudit, type AuditDetails } from '$lib/server/audit';
import { AppError } from '$lib/server/errors';
import { formatCount } from './messages';
import {
	keySources,
	type EffectiveLimits,
	type KeySource,
	type LimitDefaults,
	type LimitSettingValues,
	type LimitValues,
	type SourceLimits,
	type SourceStatus
} from './types';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export const MAX_REQUESTS_PER_HOUR = 1_000_000;
export const MAX_TOKENS_PER_HOUR = 1_000_000_000;
export const MAX_DAILY_CAP_USD = 10_000;

// ---- input ---------------------------------------------------------------------------------------

function wholeNumber(field: string, max: number) {
	const message = `${field} must be a whole number from 0 to ${formatCount(max)}.`;
	return z
		.number({ invalid_type_error: message })
		.int({ message })
		.min(0, { message })
		.max(max, { message })
		.nullable()
		.optional();
}

/** USD as a JSON number with at most 6 decimals (a micro-dollar); becomes integer micros. */
function usdAmount(field: string) {
	const message = `${field} must be an amount in US dollars from 0 to ${formatCount(MAX_DAILY_CAP_USD)} with at most 6 decimals.`;
	return z
		.number({ invalid_type_error: message })
		.finite({ message })
		.min(0, { message })
		.max(MAX_DAILY_CAP_USD, { message })
		.refine((usd) => usdToMicros(usd) !== undefined, { message })
		.nullable()
		.optional();
}

const limitFields = {
	provider: z.enum(providers as [Provider, ...Provider[]], {
		errorMap: () => ({ message: `provider must be one of ${providers.join(', ')}.` })
	}),
	/** Applies to both key sources. null = back to the ceiling. */
	requestsPerHour: wholeNumber('requestsPerHour', MAX_REQUESTS_PER_HOUR),
	/** Applies to both key sources. */
	tokensPerHour: wholeNumber('tokensPerHour', MAX_TOKENS_PER_HOUR),
	/** The daily cap on the user's own key. */
	dailyCapUsd: usdAmount('dailyCapUsd'),
	/** The daily cap on the app's key. */
	appDailyCapUsd: usdAmount('appDailyCapUsd')
};

/** `limits.set` input. A field left out is unchanged; null clears the user's own setting. */
export const setLimitsInput = z.object(limitFields).strict();
export type SetLimitsInput = z.output<typeof setLimitsInput>;

/** `admin.setLimits` input: the same fields set the admin's ceilings (null clears a ceiling). */
export const adminSetLimitsInput = z
	.object({
		userId: z.string({ invalid_type_error: 'userId must be a user id.' }).uuid('userId must be a user id.'),
		...limitFields
	})
	.strict();
export type AdminSetLimitsInput = z.output<typeof adminSetLimitsInput>;

type Field = keyof LimitSettingValues;

/** The per-key-source changes an input asks for: undefined = leave, null = clear. */
function changesOf(input: SetLimitsInput): Record<KeySource, Partial<LimitSettingValues>> {
	const micros = (usd: number | null | undefined) => {
		if (usd === undefined || usd === null) return usd;
		const value = usdToMicros(usd);
		// usdAmount() admits only amounts that read as whole micro-dollars.
		if (value === undefined) throw new RangeError('a validated USD amount did not parse');
		return value;
	};
	const shared: Partial<LimitSettingValues> = {};
	if (input.requestsPerHour !== undefined) shared.requestsPerHour = input.requestsPerHour;
	if (input.tokensPerHour !== undefined) shared.tokensPerHour = input.tokensPerHour;
	const own = { ...shared };
	const app = { ...shared };
	const ownCap = micros(input.dailyCapUsd);
	const appCap = micros(input.appDailyCapUsd);
	if (ownCap !== undefined) own.dailyCapMicros = ownCap;
	if (appCap !== undefined) app.dailyCapMicros = appCap;
	return { user: own, app };
}

// ---- effective values ----------------------------------------------------------------------------

export const defaultsFor = (limits: LimitDefaults, keySource: KeySource): LimitValues => ({
	requestsPerHour: limits.requestsPerHour,
	tokensPerHour: limits.tokensPerHour,
	dailyCapMicros: keySource === 'user' ? limits.dailyCapMicros : limits.appDailyCapMicros
});

interface SettingsRow {
	requests_per_hour: number | null;
	tokens_per_hour: number | null;
	daily_cap_micros: number | null;
	admin_requests_per_hour: number | null;
	admin_tokens_per_hour: number | null;
	admin_daily_cap_micros: number | null;
}

const userSettingOf = (row: SettingsRow | undefined): LimitSettingValues => ({
	requestsPerHour: row?.requests_per_hour ?? null,
	tokensPerHour: row?.tokens_per_hour ?? null,
	dailyCapMicros: row?.daily_cap_micros ?? null
});

const adminCeilingOf = (row: SettingsRow | undefined): LimitSettingValues => ({
	requestsPerHour: row?.admin_requests_per_hour ?? null,
	tokensPerHour: row?.admin_tokens_per_hour ?? null,
	dailyCapMicros: row?.admin_daily_cap_micros ?? null
});

/** The most a user may choose: the admin's ceiling where set, else the configured default. */
function ceilingOf(admin: LimitSettingValues, defaults: LimitValues): LimitValues {
	return {
		requestsPerHour: admin.requestsPerHour ?? defaults.requestsPerHour,
		tokensPerHour: admin.tokensPerHour ?? defaults.tokensPerHour,
		dailyCapMicros: admin.dailyCapMicros ?? defaults.dailyCapMicros
	};
}

/**
 * effective = least(user setting, ceiling). The same rule as `lim` in the admission statement
 * (SQL's least() ignores NULL like `?? Infinity` here): a ceiling lowered below a user's setting
 * wins, and a user's lower choice stays when the ceiling is raised.
 */
function effectiveOf(user: LimitSettingValues, ceiling: LimitValues): LimitValues {
	return {
		requestsPerHour: Math.min(user.requestsPerHour ?? Infinity, ceiling.requestsPerHour),
		tokensPerHour: Math.min(user.tokensPerHour ?? Infinity, ceiling.tokensPerHour),
		dailyCapMicros: Math.min(user.dailyCapMicros ?? Infinity, ceiling.dailyCapMicros)
	};
}

const settingsColumns = [
	'requests_per_hour',
	'tokens_per_hour',
	'daily_cap_micros',
	'admin_requests_per_hour',
	'admin_tokens_per_hour',
	'admin_daily_cap_micros'
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
	now: Date;
	hour_start: Date;
	day: string;
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
				(ts at time zone 'UTC')::date as day
			from clock
		),
		pairs (provider, key_source, position) as (values ${pairs})
		select pairs.provider, pairs.key_source,
			s.requests_per_hour, s.tokens_per_hour, s.daily_cap_micros,
			s.admin_requests_per_hour, s.admin_tokens_per_hour, s.admin_daily_cap_micros,
			h.requests, h.tokens, h.reserved_tokens, d.settled_micros, d.reserved_micros,
			win.ts as now, win.hour_start, to_char(win.day, 'YYYY-MM-DD') as day
		from pairs cross join win
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
	const status = pausedState(settled, effective.dailyCapMicros, row.day);
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
			reservedTodayMicros: row.reserved_micros ?? 0
		},
		paused: status.paused,
		pausedUntil: status.pausedUntil ?? null
	};
}

/**
 * Paused = today's settled cost reached the cap (reserved money may still come back, so it does
 * not count). Derived from the counters, never stored, so it resumes by itself at the next UTC
 * day. A cap of 0 (an admin switched the key source off) pauses with no end.
 */
function pausedState(settledMicros: number, capMicros: number, day: string): { paused: boolean; pausedUntil?: Date } {
	if (settledMicros < capMicros) return { paused: false };
	return capMicros > 0 ? { paused: true, pausedUntil: dayEndOf(day) } : { paused: true };
}

/**
 * Everything the UI's gauges need, for all four providers and both key sources: the limits in
 * force, the user's own settings, the admin ceilings, usage this hour / today, reset times and
 * paused state.
 */
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
		providers: providers.map((provider) => ({
			provider,
			own: bySource(provider, 'user'),
			app: bySource(provider, 'app')
		}))
	};
}

/** Which key sources are paused for the day (all providers, or one). */
export async function sourceStatus(
	db: Kysely<Database>,
	limits: LimitDefaults,
	userId: string,
	provider?: Provider,
	options: { now?: Date } = {}
): Promise<SourceStatus[]> {
	const rows = await usageRows(db, userId, { provider, now: options.now });
	return rows.map((row) => {
		const source = sourceLimitsOf(row, limits);
		return {
			provider: row.provider,
			keySource: row.key_source,
			paused: source.paused,
			...(source.pausedUntil ? { pausedUntil: source.pausedUntil } : {})
		};
	});
}

// ---- changing settings -----------------------------------------------------------------------------

/** Creates the (user, provider, key source) rows if missing and locks them for this transaction. */
async function lockSettings(
	trx: Transaction<Database>,
	userId: string,
	provider: Provider,
	sources: KeySource[]
): Promise<Map<KeySource, SettingsRow>> {
	await trx
		.insertInto('limit_settings')
		.values(sources.map((key_source) => ({ user_id: userId, provider, key_source })))
		.onConflict((oc) => oc.columns(['user_id', 'provider', 'key_source']).doNothing())
		.execute();
	const rows = await trx
		.selectFrom('limit_settings')
		.select(['key_source', ...settingsColumns])
		.where('user_id', '=', userId)
		.where('provider', '=', provider)
		.where('key_source', 'in', sources)
		.orderBy('key_source')
		.forUpdate()
		.execute();
	return new Map(rows.map((row) => [row.key_source, row]));
}

function describeLimit(field: Field, keySource: KeySource): string {
	if (field === 'requestsPerHour') return 'requests-per-hour limit';
	if (field === 'tokensPerHour') return 'tokens-per-hour limit';
	return keySource === 'user' ? 'daily spending cap on your own key' : "daily spending cap on the app's key";
}

const formatValue = (field: Field, value: number) =>
	field === 'dailyCapMicros' ? formatUsd(value) : formatCount(value);

/**
 * A user changes their own limits for one provider: they may lower them (or clear their setting
 * with null), never raise them above the ceiling (the admin's, else the default). All-or-nothing:
 * one value above its ceiling is a 400 and nothing changes. Returns the limits now in force.
 */
export async function setUserLimits(
	db: Kysely<Database>,
	limits: LimitDefaults,
	userId: string,
	input: SetLimitsInput
): Promise<EffectiveLimits> {
	const changes = changesOf(input);
	const sources = keySources.filter((k) => Object.keys(changes[k]).length > 0);
	if (sources.length > 0) {
		await db.transaction().execute(async (trx) => {
			const rows = await lockSettings(trx, userId, input.provider, sources);
			for (const keySource of sources) {
				const ceiling = ceilingOf(adminCeilingOf(rows.get(keySource)), defaultsFor(limits, keySource));
				const change = changes[keySource];
				for (const field of Object.keys(change) as Field[]) {
					const value = change[field];
					if (value === undefined || value === null || value <= ceiling[field]) continue;
					const byAdmin = adminCeilingOf(rows.get(keySource))[field] !== null;
					throw new AppError(
						'bad_request',
						`You can lower your ${providerName(input.provider)} ${describeLimit(field, keySource)} but not raise it above ` +
							`${formatValue(field, ceiling[field])} (${byAdmin ? 'the limit an admin set' : 'the default'}). Ask an admin to raise it.`,
						{
							reason: 'above_ceiling',
							details: { field, provider: input.provider, keySource, ceiling: ceiling[field] }
						}
					);
				}
				await trx
					.updateTable('limit_settings')
					.set({ ...columnsOf(change, ''), updated_at: new Date() })
					.where('user_id', '=', userId)
					.where('provider', '=', input.provider)
					.where('key_source', '=', keySource)
					.execute();
			}
		});
	}
	return getEffectiveLimits(db, limits, userId);
}

export interface AdminLimitsChange {
	userId: string;
	provider: Provider;
	/** Ceilings before and after, per key source changed. */
	before: Partial<Record<KeySource, LimitSettingValues>>;
	after: Partial<Record<KeySource, LimitSettingValues>>;
}

/** Who made an admin change, for the audit log. */
export interface AdminActor {
	actorUserId: string;
	ip?: string | null;
}

/**
 * An admin sets a user's ceilings for one provider (null clears one: the default applies again).
 * Unknown user: 404. The change and its audit entry commit together. Returns the user's limits
 * now in force and what changed.
 */
export async function setAdminLimits(
	db: Kysely<Database>,
	limits: LimitDefaults,
	input: AdminSetLimitsInput,
	actor: AdminActor
): Promise<{ limits: EffectiveLimits; change: AdminLimitsChange }> {
	const { userId, provider } = input;
	const changes = changesOf(input);
	const sources = keySources.filter((k) => Object.keys(changes[k]).length > 0);
	const change: AdminLimitsChange = { userId, provider, before: {}, after: {} };
	await db.transaction().execute(async (trx) => {
		const user = await trx.selectFrom('users').select('id').where('id', '=', userId).forShare().executeTakeFirst();
		if (!user) throw new AppError('not_found', 'There is no user with that id.');
		if (sources.length === 0) return;
		const rows = await lockSettings(trx, userId, provider, sources);
		const details: AuditDetails = {};
		for (const keySource of sources) {
			const before = adminCeilingOf(rows.get(keySource));
			const after = { ...before, ...changes[keySource] };
			change.before[keySource] = before;
			change.after[keySource] = after;
			for (const field of Object.keys(changes[keySource]) as Field[]) {
				details[`${keySource}.${field}`] = after[field];
				details[`${keySource}.${field}.before`] = before[field];
			}
			await trx
				.updateTable('limit_settings')
				.set({ ...columnsOf(changes[keySource], 'admin_'), updated_at: new Date() })
				.where('user_id', '=', userId)
				.where('provider', '=', provider)
				.where('key_source', '=', keySource)
				.execute();
		}
		await recordAudit(trx, {
			action: 'limits.set_ceiling',
			actorUserId: actor.actorUserId,
			subjectUserId: userId,
			provider,
			ip: actor.ip ?? null,
			details
		});
	});
	return { limits: await getEffectiveLimits(db, limits, userId), change };
}

function columnsOf(change: Partial<LimitSettingValues>, prefix: '' | 'admin_'): Updateable<LimitSettingsTable> {
	const out: Updateable<LimitSettingsTable> = {};
	const { requestsPerHour, tokensPerHour, dailyCapMicros } = change;
	if (prefix === '') {
		if (requestsPerHour !== undefined) out.requests_per_hour = requestsPerHour;
		if (tokensPerHour !== undefined) out.tokens_per_hour = tokensPerHour;
		if (dailyCapMicros !== undefined) out.daily_cap_micros = dailyCapMicros;
	} else {
		if (requestsPerHour !== undefined) out.admin_requests_per_hour = requestsPerHour;
		if (tokensPerHour !== undefined) out.admin_tokens_per_hour = tokensPerHour;
		if (dailyCapMicros !== undefined) out.admin_daily_cap_micros = dailyCapMicros;
	}
	return out;
}
