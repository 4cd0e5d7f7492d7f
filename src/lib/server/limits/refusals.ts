import type { Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { formatUsd } from '$lib/money';
import { AppError, type AppErrorCode, type AppErrorOptions } from '$lib/server/errors';
import type { NewNotification } from '$lib/server/notifications';
import { appBudgetNotices } from './app-budget';
import {
	appBudgetSpentMessage,
	capOffMessage,
	capReachedMessage,
	capTooSmallMessage,
	rateLimitMessage,
	tokensDoNotFitMessage,
	tokensOverWholeLimitMessage
} from './messages';
import { thresholdNotifications } from './thresholds';
import type { AdmitRequest, KeySource } from './types';
import type { AdmitRow } from './admit';

/** A request the limits refused, with the notifications the refusal made due (a paused key source). */
export class LimitRefusal extends AppError {
	constructor(
		code: AppErrorCode,
		message: string,
		options: AppErrorOptions,
		readonly crossed: readonly NewNotification[] = []
	) {
		super(code, message, options);
	}
}

/** The app key's budget for all users refused: spent, or this worst case does not fit in what is left. */
export async function appBudgetRefusal(
	db: Kysely<Database>,
	request: AdmitRequest,
	row: AdmitRow,
	dayEnd: Date
): Promise<LimitRefusal> {
	const budget = row.app_budget_micros ?? 0;
	const settled = row.snapshot_app_settled ?? 0;
	const reserved = row.snapshot_app_reserved ?? 0;
	const spent = settled >= budget;
	const message = spent
		? appBudgetSpentMessage(request.provider, budget, dayEnd, row.now)
		: `This request could cost up to ${formatUsd(request.reserveMicros)}, more than the ${formatUsd(Math.max(0, budget - settled - reserved))} left of the app key's budget for today (counting requests still running). Try a shorter request, or add your own key on the API keys page.`;
	const crossed = spent
		? await appBudgetNotices(db, {
				budgetMicros: budget,
				before: budget - 1,
				after: budget,
				day: row.day,
				now: row.now
			})
		: [];
	const details = {
		provider: request.provider,
		keySource: 'app',
		budgetMicros: budget,
		settledMicros: settled,
		reservedMicros: reserved,
		requestedMicros: request.reserveMicros,
		resetsAt: dayEnd.toISOString()
	};
	return new LimitRefusal('spend_cap_reached', message, { reason: 'app_budget', details }, crossed);
}

/** The spending cap refused: reached (the key source is paused for the day) or this worst case does not fit. */
export function capRefusal(request: AdmitRequest, row: AdmitRow, dayEnd: Date): LimitRefusal {
	const { userId, provider, keySource, reserveMicros } = request;
	const cap = row.daily_cap_micros;
	const settled = row.snapshot_settled ?? 0;
	const reserved = row.snapshot_reserved ?? 0;
	const reached = settled >= cap;
	// A $0 cap does not lift at midnight: no reset time, or the chat would promise one.
	const resets = cap === 0 ? {} : { resetsAt: dayEnd.toISOString() };
	const message =
		cap === 0
			? capOffMessage(provider, keySource)
			: reached
				? capReachedMessage(provider, keySource, cap, dayEnd, row.now)
				: capTooSmallMessage(provider, keySource, cap, cap - settled - reserved, reserveMicros, dayEnd, row.now);
	const options = {
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
			...resets
		}
	};
	const crossed = reached ? pausedNotifications(userId, provider, keySource, cap, row.day, dayEnd, row.now) : [];
	return new LimitRefusal('spend_cap_reached', message, options, crossed);
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
export async function hourlyRefusal(
	db: Kysely<Database>,
	request: AdmitRequest,
	row: AdmitRow,
	hourEnd: Date
): Promise<LimitRefusal> {
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
		return new LimitRefusal(
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
		return new LimitRefusal(
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
	return new LimitRefusal('rate_limited', message, {
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
