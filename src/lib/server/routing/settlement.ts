import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import {
	settleCall,
	settlementOf,
	type ActualUsage,
	type Admission,
	type SettleResult,
	type SettleRow
} from '$lib/server/limits';
import { usageRecordInsert, type UsageRecord } from '$lib/server/usage';

/**
 * The chat's last statement when the request ends on the admission it settles: the settlement
 * and the usage record in ONE statement, one commit instead of two. Limits and usage each lend
 * their part; both parts are idempotent, so the statement is safe to run again.
 */
export async function settleWithRecord(
	db: Kysely<Database>,
	admission: Admission,
	actual: ActualUsage,
	record: UsageRecord
): Promise<SettleResult> {
	const { rows } = await sql<SettleRow>`with recorded as (${usageRecordInsert(db, record)})
		select * from ${settleCall(admission, actual)}`.execute(db);
	return settlementOf(db, admission, actual, rows[0]);
}
