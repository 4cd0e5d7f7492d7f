import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import type { NewNotification } from '$lib/server/notifications';
import { appBudgetNotices } from './app-budget';
import { thresholdNotifications } from './thresholds';
import { periodCapNotices } from './period-notices';
import type { ActualUsage, Admission } from './types';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface SettleResult {
	/** False when the reservation was settled or released before (settling twice changes nothing). */
	settled: boolean;
	/** The notifications this settlement made due (80 % / 100 % of a limit). */
	crossed: NewNotification[];
}

function checkUsage(actual: ActualUsage): void {
	if (!Number.isSafeInteger(actual.costMicros) || actual.costMicros < 0)
		throw new TypeError('settle: costMicros must be a whole, non-negative number of micro-dollars');
	if (!Number.isSafeInteger(actual.totalTokens) || actual.totalTokens < 0)
		throw new TypeError('settle: totalTokens must be a whole, non-negative number');
}

/** The row `limits_settle` returns (see `settle`). */
export interface SettleRow {
	settled: number;
	tokens_after: number | null;
	settled_after: number | null;
	app_settled_after: number | null;
	model_settled_after: number | null;
}

/**
 * The call of `limits_settle` for `admission`, on its own (`settle`) or inside another statement
 * (the chat's settlement, which writes the usage record in the same statement).
 */
export function settleCall(admission: Admission, actual: ActualUsage) {
	checkUsage(actual);
	return sql<SettleRow>`limits_settle(
		${admission.reservationId}::uuid, ${actual.costMicros}::bigint, ${actual.totalTokens}::bigint
	)`;
}

/**
 * Records the real cost and tokens of an admitted request in ONE statement (`limits_settle`), even
 * above the reservation or after a reclaim: usage is never dropped. Idempotent.
 */
export async function settle(db: Kysely<Database>, admission: Admission, actual: ActualUsage): Promise<SettleResult> {
	const result = await sql<SettleRow>`select * from ${settleCall(admission, actual)}`.execute(db);
	return settlementOf(db, admission, actual, result.rows[0]);
}

/** What `limits_settle`'s `row` means for `admission`: whether it settled, and the notifications due. */
export async function settlementOf(
	db: Kysely<Database>,
	admission: Admission,
	actual: ActualUsage,
	row: SettleRow | undefined
): Promise<SettleResult> {
	if (!row || row.settled === 0) return { settled: false, crossed: [] };

	const { userId, provider, keySource, limits } = admission;
	const dayStart = new Date(`${admission.day}T00:00:00Z`);
	const crossed: NewNotification[] = [];
	if (row.tokens_after !== null) {
		crossed.push(
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
		crossed.push(
			...thresholdNotifications({
				userId,
				provider,
				keySource,
				metric: 'daily_cap',
				limit: limits.dailyCapMicros,
				before: row.settled_after - actual.costMicros,
				after: row.settled_after,
				windowStart: dayStart,
				resetsAt: new Date(dayStart.getTime() + DAY_MS)
			})
		);
	}
	if (row.app_settled_after !== null && admission.appBudgetMicros !== null) {
		const after = Number(row.app_settled_after);
		const budgetMicros = admission.appBudgetMicros;
		crossed.push(
			...(await appBudgetNotices(db, { budgetMicros, before: after - actual.costMicros, after, day: admission.day }))
		);
	}
	crossed.push(...(await periodCapNotices(db, admission, actual.costMicros, row.model_settled_after)));
	return { settled: true, crossed };
}

/**
 * Cancels an admitted request without cost (`limits_release`): its reserved money and tokens go
 * back; it still counts against the hourly request limit. Idempotent; returns whether this call released it.
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
 * Releases what was reserved under `requestId`, for a request whose admission answer was lost (no
 * `Admission` in hand). Returns the reservation's owner, or undefined when nothing was reserved.
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
