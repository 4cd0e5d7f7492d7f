import { sql, type Expression, type Kysely, type RawBuilder } from 'kysely';
import { providers } from '$lib/server/config';
import { isUniqueViolation, type Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { getLimitValues } from './settings';
import { thresholdNotifications } from './thresholds';
import { appBudgetRefusal, capRefusal, hourlyRefusal } from './refusals';
import { tokenBudgetRefusal } from './token-budget';
import { modelCapRefusal, periodCapRefusal } from './period-caps';
import type { Admission, AdmitRequest, LimitDefaults, LimitValues } from './types';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The row `limits_admit` returns (see `admit`). */
export interface AdmitRow {
	now: Date;
	hour_start: Date;
	day: string;
	requests_per_hour: number;
	tokens_per_hour: number;
	daily_cap_micros: number;
	requests_after: number | null;
	settled_micros: number | null;
	reservation_id: string | null;
	snapshot_requests: number | null;
	snapshot_tokens: number | null;
	snapshot_reserved_tokens: number | null;
	snapshot_settled: number | null;
	snapshot_reserved: number | null;
	/** The app key's daily budget the admission counted against (app key with a budget set), else null. */
	app_budget_micros: number | null;
	app_settled_after: number | null;
	snapshot_app_settled: number | null;
	snapshot_app_reserved: number | null;
	/** The request's access token's budgets (null: none, or no token). */
	token_daily_budget_micros: number | null;
	token_monthly_budget_micros: number | null;
	token_day_settled_after: number | null;
	token_month_settled_after: number | null;
	snapshot_token_day_settled: number | null;
	snapshot_token_day_reserved: number | null;
	snapshot_token_month_settled: number | null;
	snapshot_token_month_reserved: number | null;
	/** Weekly / monthly caps in force (null: none) and the earlier days' spend of this week / month. */
	weekly_cap_micros: number | null;
	monthly_cap_micros: number | null;
	week_start: string;
	prior_week_settled: number | null;
	prior_week_reserved: number | null;
	prior_month_settled: number | null;
	prior_month_reserved: number | null;
	/** The request's model's daily cap (null: none) and its day row. */
	model_daily_cap_micros: number | null;
	model_settled_after: number | null;
	snapshot_model_settled: number | null;
	snapshot_model_reserved: number | null;
}

// Bad arguments here are the caller's bug, not the user's: plain errors (a generic 500), not AppErrors.
function checkRequest(request: Omit<AdmitRequest, 'userId' | 'tokenId'>): void {
	if (!(providers as readonly string[]).includes(request.provider)) throw new TypeError('admit: unknown provider');
	if (request.keySource !== 'user' && request.keySource !== 'app') throw new TypeError('admit: unknown key source');
	if (!Number.isSafeInteger(request.reserveMicros) || request.reserveMicros < 0)
		throw new TypeError('admit: reserveMicros must be a whole, non-negative number of micro-dollars');
	if (!Number.isSafeInteger(request.reserveTokens) || request.reserveTokens < 0)
		throw new TypeError('admit: reserveTokens must be a whole, non-negative number of tokens');
	if (request.requestId.length < 1 || request.requestId.length > 200)
		throw new TypeError('admit: requestId must have 1 to 200 characters');
	if (request.model != null && !request.model.startsWith(`${request.provider}/`))
		throw new TypeError("admit: model must be one of the provider's models");
}

/**
 * Admits one request in ONE statement (`limits_admit`, docs/limits.md) or throws a `LimitRefusal`:
 * 'rate_limited' (429), 'spend_cap_reached' (402) or 'bad_request' (a worst case above the whole
 * tokens-per-hour limit). Admitting the same request id again returns the first admission.
 */
export async function admit(db: Kysely<Database>, limits: LimitDefaults, request: AdmitRequest): Promise<Admission> {
	let row: AdmitRow | undefined;
	try {
		row = (await sql<AdmitRow>`select * from ${admitCall(limits, request)}`.execute(db)).rows[0];
	} catch (error) {
		if (isUniqueViolation(error)) return existingAdmission(db, limits, request);
		throw error;
	}
	if (!row) throw new Error('admission statement returned no row');
	return admissionOf(db, request, row);
}

/**
 * The call of `limits_admit` for `request`, on its own (`admit`) or inside another statement,
 * where the user may be a column of an outer query (the chat's first statement).
 */
export function admitCall(
	limits: LimitDefaults,
	request: Omit<AdmitRequest, 'userId' | 'tokenId'> & {
		userId: string | Expression<string>;
		tokenId?: string | Expression<string> | null;
	}
): RawBuilder<AdmitRow> {
	checkRequest(request);
	const { userId, provider, keySource, reserveMicros, reserveTokens, requestId } = request;
	const defaultCap = keySource === 'user' ? limits.dailyCapMicros : limits.appDailyCapMicros;
	const appBudget = keySource === 'app' ? limits.appDailyBudgetMicros : null;
	return sql<AdmitRow>`limits_admit(
		${userId}::uuid, ${provider}::text, ${keySource}::text, ${reserveMicros}::bigint,
		${reserveTokens}::bigint, ${requestId}::text,
		${request.now ?? null}::timestamptz,
		${limits.requestsPerHour}::integer, ${limits.tokensPerHour}::bigint, ${defaultCap}::bigint,
		${appBudget}::bigint, ${request.tokenId ?? null}::uuid, ${request.model ?? null}::text
	)`;
}

/** The admission `row` of `limits_admit` stands for, with the thresholds it crossed; or the refusal. */
export async function admissionOf(db: Kysely<Database>, request: AdmitRequest, row: AdmitRow): Promise<Admission> {
	const { userId, provider, keySource, reserveMicros, reserveTokens, requestId } = request;
	const limitValues: LimitValues = {
		requestsPerHour: row.requests_per_hour,
		tokensPerHour: row.tokens_per_hour,
		dailyCapMicros: row.daily_cap_micros,
		weeklyCapMicros: row.weekly_cap_micros,
		monthlyCapMicros: row.monthly_cap_micros
	};
	const hourEnd = new Date(row.hour_start.getTime() + HOUR_MS);
	const dayEnd = new Date(Date.parse(`${row.day}T00:00:00Z`) + DAY_MS);
	if (row.requests_after === null) throw await hourlyRefusal(db, request, row, hourEnd);
	if (row.settled_micros === null) throw periodCapRefusal(request, row) ?? capRefusal(request, row, dayEnd);
	if (row.app_budget_micros !== null && row.app_settled_after === null)
		throw await appBudgetRefusal(db, request, row, dayEnd);
	if (
		row.token_month_settled_after === null &&
		(row.token_daily_budget_micros ?? row.token_monthly_budget_micros) !== null
	)
		throw tokenBudgetRefusal(request, row, dayEnd);
	if (row.reservation_id === null) throw modelCapRefusal(request, row, dayEnd);
	return {
		reservationId: row.reservation_id,
		requestId,
		userId,
		provider,
		keySource,
		reservedMicros: reserveMicros,
		reservedTokens: reserveTokens,
		windowHour: row.hour_start,
		day: row.day,
		limits: limitValues,
		appBudgetMicros: row.app_budget_micros,
		model: request.model ?? null,
		modelDailyCapMicros: row.model_daily_cap_micros,
		crossed: thresholdNotifications({
			userId,
			provider,
			keySource,
			metric: 'requests_per_hour',
			limit: limitValues.requestsPerHour,
			before: row.requests_after - 1,
			after: row.requests_after,
			windowStart: row.hour_start,
			resetsAt: hourEnd,
			now: row.now
		})
	};
}

/** A retried admission with the same request id gets the first one back (or a conflict if it is not the same request). */
async function existingAdmission(
	db: Kysely<Database>,
	limits: LimitDefaults,
	request: AdmitRequest
): Promise<Admission> {
	const existing = await db
		.selectFrom('limit_reservations')
		.select([
			'id',
			'user_id',
			'provider',
			'key_source',
			'amount_micros',
			'reserved_tokens',
			'window_start',
			sql<string>`to_char(day, 'YYYY-MM-DD')`.as('day')
		])
		.where('request_id', '=', request.requestId)
		.executeTakeFirst();
	if (
		!existing ||
		existing.user_id !== request.userId ||
		existing.provider !== request.provider ||
		existing.key_source !== request.keySource
	) {
		throw new AppError('conflict', 'This request id was already used for another request.');
	}
	return {
		reservationId: existing.id,
		requestId: request.requestId,
		userId: request.userId,
		provider: request.provider,
		keySource: request.keySource,
		reservedMicros: existing.amount_micros,
		reservedTokens: existing.reserved_tokens,
		windowHour: existing.window_start,
		day: existing.day,
		limits: await getLimitValues(db, limits, request.userId, request.provider, request.keySource),
		appBudgetMicros: request.keySource === 'app' ? limits.appDailyBudgetMicros : null,
		model: request.model ?? null,
		modelDailyCapMicros: null,
		crossed: []
	};
}
