import { sql, type Expression, type Kysely, type RawBuilder } from 'kysely';
import { providers, type Provider } from '$lib/server/config';
import { isUniqueViolation, type Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { notify, type NewNotification } from '$lib/server/notifications';
import {
	capOffMessage,
	capReachedMessage,
	capTooSmallMessage,
	rateLimitMessage,
	tokensDoNotFitMessage,
	tokensOverWholeLimitMessage
} from './messages';
import { getLimitValues } from './settings';
import { thresholdNotifications } from './thresholds';
import type {
	ActualUsage,
	Admission,
	AdmitRequest,
	KeySource,
	LimitDefaults,
	LimitValues,
	ReclaimedReservation
} from './types';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Default reclaim timeout: longer than any request can live (provider timeout is at most 10 min). */
export const DEFAULT_RECLAIM_AFTER_SECONDS = 15 * 60;

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
}

// Bad arguments here are the caller's bug, not the user's: plain errors (a generic 500), not AppErrors.
function checkRequest(request: Omit<AdmitRequest, 'userId'>): void {
	if (!(providers as readonly string[]).includes(request.provider)) throw new TypeError('admit: unknown provider');
	if (request.keySource !== 'user' && request.keySource !== 'app') throw new TypeError('admit: unknown key source');
	if (!Number.isSafeInteger(request.reserveMicros) || request.reserveMicros < 0)
		throw new TypeError('admit: reserveMicros must be a whole, non-negative number of micro-dollars');
	if (!Number.isSafeInteger(request.reserveTokens) || request.reserveTokens < 0)
		throw new TypeError('admit: reserveTokens must be a whole, non-negative number of tokens');
	if (request.requestId.length < 1 || request.requestId.length > 200)
		throw new TypeError('admit: requestId must have 1 to 200 characters');
}

/**
 * Admits one request in ONE statement (`limits_admit`, migrations/0007_token_reservations.sql), or refuses it:
 *   1. count it in this UTC hour's row and reserve its worst-case tokens there, only while
 *      requests < requests-per-hour, tokens settled < tokens-per-hour and settled + reserved tokens
 *      + reserveTokens <= tokens-per-hour (ON CONFLICT DO UPDATE ... WHERE locks and re-reads the
 *      latest row, so concurrent admissions on any instance are serialized on it);
 *   2. only if that succeeded, add `reserveMicros` to today's reserved amount, only while the cap
 *      is not reached and settled + reserved + reserveMicros <= cap (if not, the same call gives
 *      the tokens of step 1 back);
 *   3. only if that succeeded, insert the reservation (its unique request id makes a retry of the
 *      same request fail the whole statement, which then returns the first admission).
 * A request refused by the spending cap still counts against the hourly request limit (step 1
 * already happened); see docs/limits.md.
 *
 * Throws AppError 'rate_limited' (429, retry-after), 'spend_cap_reached' (402), or 'bad_request'
 * (400, reason `request_exceeds_tokens_per_hour`) when the request's worst case alone is more than
 * the whole tokens-per-hour limit, so waiting would never help.
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
	return admissionOf(db, limits, request, row);
}

/**
 * The call of `limits_admit` for `request`, to run on its own (`admit`) or inside another
 * statement, where the user may be a column of an outer query (routing admits in the statement
 * that reads the user's keys; the API's also checks the access token). Checks the request first.
 */
export function admitCall(
	limits: LimitDefaults,
	request: Omit<AdmitRequest, 'userId'> & { userId: string | Expression<string> }
): RawBuilder<AdmitRow> {
	checkRequest(request);
	const { userId, provider, keySource, reserveMicros, reserveTokens, requestId } = request;
	const defaultCap = keySource === 'user' ? limits.dailyCapMicros : limits.appDailyCapMicros;
	return sql<AdmitRow>`limits_admit(
		${userId}::uuid, ${provider}::text, ${keySource}::text, ${reserveMicros}::bigint,
		${reserveTokens}::bigint, ${requestId}::text,
		${request.now ?? null}::timestamptz,
		${limits.requestsPerHour}::integer, ${limits.tokensPerHour}::bigint, ${defaultCap}::bigint
	)`;
}

/**
 * The admission `row` of `limits_admit` stands for: the request admitted (threshold notifications
 * sent), or the refusal thrown as `admit` documents.
 */
export async function admissionOf(
	db: Kysely<Database>,
	limits: LimitDefaults,
	request: AdmitRequest,
	row: AdmitRow
): Promise<Admission> {
	const { userId, provider, keySource, reserveMicros, reserveTokens, requestId } = request;
	const limitValues: LimitValues = {
		requestsPerHour: row.requests_per_hour,
		tokensPerHour: row.tokens_per_hour,
		dailyCapMicros: row.daily_cap_micros
	};
	const hourEnd = new Date(row.hour_start.getTime() + HOUR_MS);
	const dayEnd = new Date(Date.parse(`${row.day}T00:00:00Z`) + DAY_MS);

	if (row.reservation_id !== null && row.requests_after !== null) {
		const crossed = thresholdNotifications({
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
		});
		if (crossed.length > 0) await notify(db, crossed);
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
			limits: limitValues
		};
	}

	if (row.requests_after === null) throw await hourlyRefusal(db, request, row, hourEnd);

	// The spending cap refused it: either the cap is reached (the key source is paused for the day)
	// or this request's worst case does not fit in what is left.
	const cap = limitValues.dailyCapMicros;
	const settled = row.snapshot_settled ?? 0;
	const reserved = row.snapshot_reserved ?? 0;
	const reached = settled >= cap;
	if (reached) await notify(db, pausedNotifications(userId, provider, keySource, cap, row.day, dayEnd, row.now));
	const message =
		cap === 0
			? capOffMessage(provider, keySource)
			: reached
				? capReachedMessage(provider, keySource, cap, dayEnd, row.now)
				: capTooSmallMessage(provider, keySource, cap, cap - settled - reserved, reserveMicros, dayEnd, row.now);
	throw new AppError('spend_cap_reached', message, {
		reason: keySource === 'user' ? 'daily_cap' : 'app_daily_cap',
		details: {
			limit: cap,
			capMicros: cap,
			settledMicros: settled,
			reservedMicros: reserved,
			requestedMicros: reserveMicros,
			provider,
			keySource,
			paused: reached,
			resetsAt: dayEnd.toISOString()
		}
	});
}

type HourlyRefusal =
	| { reason: 'requests_per_hour' }
	| { reason: 'tokens_per_hour'; tokens: number; reservedTokens: number; reached: boolean }
	| { reason: 'request_exceeds_tokens_per_hour' };

/**
 * Why the hour row refused and the error to throw. Decided from the statement's snapshot of the hour
 * row; only when that snapshot is stale (a concurrent request took the room meanwhile) is the row
 * read again. A worst case above the whole tokens-per-hour limit is a 400, not a 429: no retry
 * could ever be admitted.
 */
async function hourlyRefusal(
	db: Kysely<Database>,
	request: AdmitRequest,
	row: AdmitRow,
	hourEnd: Date
): Promise<AppError> {
	const { provider, keySource, reserveTokens } = request;
	const decide = (requests: number, tokens: number, reservedTokens: number): HourlyRefusal | undefined => {
		if (row.tokens_per_hour > 0 && reserveTokens > row.tokens_per_hour)
			return { reason: 'request_exceeds_tokens_per_hour' };
		if (row.requests_per_hour <= 0 || requests >= row.requests_per_hour) return { reason: 'requests_per_hour' };
		if (row.tokens_per_hour <= 0 || tokens >= row.tokens_per_hour)
			return { reason: 'tokens_per_hour', tokens, reservedTokens, reached: true };
		if (tokens + reservedTokens + reserveTokens > row.tokens_per_hour)
			return { reason: 'tokens_per_hour', tokens, reservedTokens, reached: false };
		return undefined;
	};
	let refusal = decide(row.snapshot_requests ?? 0, row.snapshot_tokens ?? 0, row.snapshot_reserved_tokens ?? 0);
	if (!refusal) {
		const fresh = await db
			.selectFrom('limit_hourly')
			.select(['requests', 'tokens', 'reserved_tokens'])
			.where('user_id', '=', request.userId)
			.where('provider', '=', provider)
			.where('key_source', '=', keySource)
			.where('window_start', '=', row.hour_start)
			.executeTakeFirst();
		refusal = decide(fresh?.requests ?? 0, fresh?.tokens ?? 0, fresh?.reserved_tokens ?? 0) ?? {
			reason: 'requests_per_hour'
		};
	}
	const base = { provider, keySource, resetsAt: hourEnd.toISOString() };
	if (refusal.reason === 'request_exceeds_tokens_per_hour') {
		return new AppError(
			'bad_request',
			tokensOverWholeLimitMessage(provider, keySource, row.tokens_per_hour, reserveTokens),
			{
				reason: refusal.reason,
				details: { ...base, limit: row.tokens_per_hour, requestedTokens: reserveTokens, param: 'max_tokens' }
			}
		);
	}
	const retryAfterSeconds = Math.max(1, Math.ceil((hourEnd.getTime() - row.now.getTime()) / 1000));
	if (refusal.reason === 'requests_per_hour') {
		const limit = row.requests_per_hour;
		return new AppError(
			'rate_limited',
			rateLimitMessage(provider, keySource, refusal.reason, limit, hourEnd, row.now),
			{
				reason: refusal.reason,
				retryAfterSeconds,
				details: { ...base, limit }
			}
		);
	}
	const limit = row.tokens_per_hour;
	const message = refusal.reached
		? rateLimitMessage(provider, keySource, refusal.reason, limit, hourEnd, row.now)
		: tokensDoNotFitMessage(
				provider,
				keySource,
				limit,
				limit - refusal.tokens - refusal.reservedTokens,
				reserveTokens,
				hourEnd,
				row.now
			);
	return new AppError('rate_limited', message, {
		reason: refusal.reason,
		retryAfterSeconds,
		details: {
			...base,
			limit,
			usedTokens: refusal.tokens,
			reservedTokens: refusal.reservedTokens,
			requestedTokens: reserveTokens
		}
	});
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
		limits: await getLimitValues(db, limits, request.userId, request.provider, request.keySource)
	};
}

function pausedNotifications(
	userId: string,
	provider: Provider,
	keySource: KeySource,
	capMicros: number,
	day: string,
	dayEnd: Date,
	now: Date
): NewNotification[] {
	return thresholdNotifications({
		userId,
		provider,
		keySource,
		metric: 'daily_cap',
		limit: capMicros,
		before: capMicros - 1,
		after: capMicros,
		windowStart: new Date(`${day}T00:00:00Z`),
		resetsAt: dayEnd,
		now
	}).filter((n) => n.kind !== 'cap_80');
}

function checkUsage(actual: ActualUsage): void {
	if (!Number.isSafeInteger(actual.costMicros) || actual.costMicros < 0)
		throw new TypeError('settle: costMicros must be a whole, non-negative number of micro-dollars');
	if (!Number.isSafeInteger(actual.totalTokens) || actual.totalTokens < 0)
		throw new TypeError('settle: totalTokens must be a whole, non-negative number');
}

/**
 * Records the real cost and tokens of an admitted request, in ONE statement (`limits_settle`): marks the
 * reservation settled (only if it is not yet, so settling twice changes nothing), moves its
 * amount out of today's reserved money and its tokens out of the admission hour's reserved tokens,
 * adds the real cost to the settled money and the real tokens to the admission hour. Both are
 * recorded even when they exceed the reservation (or the request was already reclaimed): usage is
 * never dropped; admission refuses once settled >= cap or tokens >= tokens-per-hour. Returns
 * whether this call settled it.
 */
export async function settle(db: Kysely<Database>, admission: Admission, actual: ActualUsage): Promise<boolean> {
	checkUsage(actual);
	const result = await sql<{ settled: number; tokens_after: number | null; settled_after: number | null }>`
		select * from limits_settle(
			${admission.reservationId}::uuid, ${actual.costMicros}::bigint, ${actual.totalTokens}::bigint
		)`.execute(db);
	const row = result.rows[0];
	if (!row || row.settled === 0) return false;

	const { userId, provider, keySource, limits } = admission;
	const notifications: NewNotification[] = [];
	if (row.tokens_after !== null) {
		notifications.push(
			...thresholdNotifications({
				userId,
				provider,
				keySource,
				metric: 'tokens_per_hour',
				limit: limits.tokensPerHour,
				before: row.tokens_after - actual.totalTokens,
				after: row.tokens_after,
				windowStart: admission.windowHour,
				resetsAt: new Date(admission.windowHour.getTime() + HOUR_MS)
			})
		);
	}
	if (row.settled_after !== null) {
		notifications.push(
			...thresholdNotifications({
				userId,
				provider,
				keySource,
				metric: 'daily_cap',
				limit: limits.dailyCapMicros,
				before: row.settled_after - actual.costMicros,
				after: row.settled_after,
				windowStart: new Date(`${admission.day}T00:00:00Z`),
				resetsAt: new Date(Date.parse(`${admission.day}T00:00:00Z`) + DAY_MS)
			})
		);
	}
	if (notifications.length > 0) await notify(db, notifications);
	return true;
}

/**
 * Cancels an admitted request without spending (ONE statement, `limits_release`) (it failed before any cost, e.g. before a
 * fallback): gives its reserved money and tokens back. The request still counts against the hourly request limit.
 * Idempotent; does nothing to a request already settled. Returns whether this call released it.
 */
export async function release(db: Kysely<Database>, admission: Admission): Promise<boolean> {
	return releaseReservation(db, admission.reservationId);
}

async function releaseReservation(db: Kysely<Database>, reservationId: string): Promise<boolean> {
	const result = await sql<{ released: number }>`
		select * from limits_release(${reservationId}::uuid)`.execute(db);
	return (result.rows[0]?.released ?? 0) > 0;
}

/**
 * Releases the reservation of `requestId` (the id `admit` was given), if there is one: for a
 * request whose admission answer was lost, so the caller does not hold its `Admission`. Returns
 * the reservation's owner, or undefined when nothing was reserved under that id. Idempotent, like
 * `release`.
 */
export async function releaseRequest(db: Kysely<Database>, requestId: string): Promise<{ userId: string } | undefined> {
	const reservation = await db
		.selectFrom('limit_reservations')
		.select(['id', 'user_id'])
		.where('request_id', '=', requestId)
		.executeTakeFirst();
	if (!reservation) return undefined;
	await releaseReservation(db, reservation.id);
	return { userId: reservation.user_id };
}

export interface ReclaimOptions {
	/** Reservations open longer than this are reclaimed (default 15 minutes). */
	olderThanSeconds?: number;
	/** At most this many per call (default 1,000); call again while it returns a full batch. */
	batchSize?: number;
	now?: Date;
}

/**
 * Returns the reservations of requests that never settled (their process died) within the
 * timeout, in ONE statement, giving back their reserved money and tokens. `FOR UPDATE SKIP LOCKED`
 * lets every instance run it at once: each reservation is reclaimed by exactly one of them, and a
 * request settling right now is skipped. Hour rows, then spend rows, are locked in a fixed order (the
 * order admission and settlement use), so reclaimers and requests cannot deadlock. A request that settles
 * after being reclaimed still records its real cost. Returns what was reclaimed so the caller can
 * write usage records for it.
 */
export async function reclaimExpiredReservations(
	db: Kysely<Database>,
	options: ReclaimOptions = {}
): Promise<ReclaimedReservation[]> {
	const olderThanSeconds = options.olderThanSeconds ?? DEFAULT_RECLAIM_AFTER_SECONDS;
	const batchSize = options.batchSize ?? 1000;
	if (!Number.isFinite(olderThanSeconds) || olderThanSeconds < 0)
		throw new TypeError('reclaim: olderThanSeconds must be a non-negative number');
	if (!Number.isSafeInteger(batchSize) || batchSize < 1)
		throw new TypeError('reclaim: batchSize must be a positive whole number');
	const result = await sql<{
		id: string;
		request_id: string;
		user_id: string;
		provider: Provider;
		key_source: KeySource;
		day: string;
		amount_micros: number;
		reserved_tokens: number;
		created_at: Date;
	}>`
		with
		clock as (select coalesce(${options.now ?? null}::timestamptz, now()) as ts),
		expired as (
			select r.id
			from limit_reservations r, clock
			where r.settled_at is null and r.reclaimed_at is null
				and r.created_at < clock.ts - ${olderThanSeconds}::double precision * interval '1 second'
			order by r.created_at
			limit ${batchSize}::integer
			for update of r skip locked
		),
		res as (
			update limit_reservations r
			set outcome = 'reclaimed', reclaimed_at = (select ts from clock)
			from expired
			where r.id = expired.id
			returning r.id, r.request_id, r.user_id, r.provider, r.key_source, r.day, r.window_start,
				r.amount_micros, r.reserved_tokens, r.created_at
		),
		hour_totals as (
			select user_id, provider, key_source, window_start, sum(reserved_tokens)::bigint as tokens
			from res
			where reserved_tokens > 0
			group by user_id, provider, key_source, window_start
		),
		hour_ordered as (
			select h.user_id, h.provider, h.key_source, h.window_start
			from limit_hourly h
			join hour_totals t on t.user_id = h.user_id and t.provider = h.provider and t.key_source = h.key_source
				and t.window_start = h.window_start
			order by h.user_id, h.provider, h.key_source, h.window_start
			for update of h
		),
		hour as (
			update limit_hourly h
			set reserved_tokens = h.reserved_tokens - t.tokens
			from hour_totals t, hour_ordered o
			where t.user_id = h.user_id and t.provider = h.provider and t.key_source = h.key_source
				and t.window_start = h.window_start
				and o.user_id = h.user_id and o.provider = h.provider and o.key_source = h.key_source
				and o.window_start = h.window_start
			returning 1
		),
		totals as (
			select user_id, provider, key_source, day, sum(amount_micros)::bigint as amount
			from res
			group by user_id, provider, key_source, day
		),
		ordered as (
			select d.user_id, d.provider, d.key_source, d.day
			from limit_daily_spend d
			join totals t on t.user_id = d.user_id and t.provider = d.provider and t.key_source = d.key_source and t.day = d.day
			-- Hour rows first (admission and settlement lock hour before spend too).
			where (select count(*) from hour) >= 0
			order by d.user_id, d.provider, d.key_source, d.day
			for update of d
		),
		spend as (
			update limit_daily_spend d
			set reserved_micros = d.reserved_micros - t.amount
			from totals t, ordered o
			where t.user_id = d.user_id and t.provider = d.provider and t.key_source = d.key_source and t.day = d.day
				and o.user_id = d.user_id and o.provider = d.provider and o.key_source = d.key_source and o.day = d.day
			returning 1
		)
		select id, request_id, user_id, provider, key_source, to_char(day, 'YYYY-MM-DD') as day, amount_micros,
			reserved_tokens, created_at
		from res
		order by created_at`.execute(db);
	return result.rows.map((r) => ({
		reservationId: r.id,
		requestId: r.request_id,
		userId: r.user_id,
		provider: r.provider,
		keySource: r.key_source,
		day: r.day,
		amountMicros: r.amount_micros,
		reservedTokens: r.reserved_tokens,
		createdAt: r.created_at
	}));
}

export interface PruneResult {
	reservations: number;
	hourlyWindows: number;
	dailyRows: number;
}

/**
 * Deletes finished reservations and counter rows older than `olderThanDays` (default 35): the
 * limits only ever look at the current hour and day, and per-request history lives in usage
 * records. Open reservations are never deleted (reclaim handles them). Run it daily.
 */
export async function pruneLimitHistory(
	db: Kysely<Database>,
	options: { olderThanDays?: number; now?: Date } = {}
): Promise<PruneResult> {
	const days = options.olderThanDays ?? 35;
	if (!Number.isSafeInteger(days) || days < 2) throw new TypeError('prune: olderThanDays must be a whole number >= 2');
	const cutoff = new Date((options.now ?? new Date()).getTime() - days * DAY_MS);
	const cutoffDay = cutoff.toISOString().slice(0, 10);
	const reservations = await db
		.deleteFrom('limit_reservations')
		.where('created_at', '<', cutoff)
		.where('outcome', 'is not', null)
		.executeTakeFirst();
	const hourly = await db.deleteFrom('limit_hourly').where('window_start', '<', cutoff).executeTakeFirst();
	const daily = await db
		.deleteFrom('limit_daily_spend')
		.where('day', '<', sql<Date>`${cutoffDay}::date`)
		.executeTakeFirst();
	return {
		reservations: Number(reservations.numDeletedRows),
		hourlyWindows: Number(hourly.numDeletedRows),
		dailyRows: Number(daily.numDeletedRows)
	};
}
