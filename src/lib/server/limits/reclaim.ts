import { sql, type Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import type { KeySource, ReclaimedReservation } from './types';

const DAY_MS = 86_400_000;

/** Longer than any request can live (the provider timeout is at most 10 minutes). */
export const DEFAULT_RECLAIM_AFTER_SECONDS = 15 * 60;

export interface ReclaimOptions {
	/** Reservations open longer than this are reclaimed (default 15 minutes). */
	olderThanSeconds?: number;
	/** At most this many per call (default 1,000); call again while it returns a full batch. */
	batchSize?: number;
	now?: Date;
}

/**
 * Gives back the reservations of requests that never settled (their process died), in ONE
 * statement (`limits_reclaim`, safe on every instance at once). Returns them so the caller can
 * write their usage records.
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
	}>`select * from limits_reclaim(
		${olderThanSeconds}::double precision, ${batchSize}::integer, ${options.now ?? null}::timestamptz
	)`.execute(db);
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
 * Deletes finished reservations and counter rows older than `olderThanDays` (default 35): limits
 * only look at the current hour and day; per-request history lives in usage records.
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
	const modelDays = await db
		.deleteFrom('limit_model_spend')
		.where('day', '<', sql<Date>`${cutoffDay}::date`)
		.executeTakeFirst();
	return {
		reservations: Number(reservations.numDeletedRows),
		hourlyWindows: Number(hourly.numDeletedRows),
		dailyRows: Number(daily.numDeletedRows) + Number(modelDays.numDeletedRows)
	};
}
