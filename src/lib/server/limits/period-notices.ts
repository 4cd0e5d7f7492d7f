import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import type { NewNotification } from '$lib/server/notifications';
import { nextMonthStart, nextWeekStart } from './period-caps';
import { thresholdNotifications } from './thresholds';
import type { Admission } from './types';

const DAY_MS = 86_400_000;

/**
 * The notifications a settled cost made due against the weekly and monthly caps and the model's
 * daily cap (issue 21), 80 % and 100 % as for the daily cap. Only an admission under such a cap pays
 * for the one read of the week's and month's sums; concurrent settles may both see a crossing, and
 * the notifications' unique key sends it once.
 */
export async function periodCapNotices(
	db: Kysely<Database>,
	admission: Admission,
	costMicros: number,
	modelSettledAfter: number | null
): Promise<NewNotification[]> {
	const { userId, provider, keySource, limits, day } = admission;
	const crossed: NewNotification[] = [];
	const dayStart = new Date(`${day}T00:00:00Z`);
	if (admission.model !== null && admission.modelDailyCapMicros !== null && modelSettledAfter !== null) {
		const after = Number(modelSettledAfter);
		crossed.push(
			...thresholdNotifications({
				userId,
				provider,
				keySource,
				metric: 'model_daily_cap',
				model: admission.model,
				limit: admission.modelDailyCapMicros,
				before: after - costMicros,
				after,
				windowStart: dayStart,
				resetsAt: new Date(dayStart.getTime() + DAY_MS)
			})
		);
	}
	if (limits.weeklyCapMicros === null && limits.monthlyCapMicros === null) return crossed;
	const sums = await sql<{ week: string; month: string; week_settled: number; month_settled: number }>`
		with p as (
			select date_trunc('week', ${day}::date)::date as week, date_trunc('month', ${day}::date)::date as month,
				(date_trunc('month', ${day}::date) + interval '1 month')::date as next_month
		)
		select to_char(p.week, 'YYYY-MM-DD') as week, to_char(p.month, 'YYYY-MM-DD') as month,
			coalesce(sum(d.settled_micros) filter (where d.day >= p.week and d.day < p.week + 7), 0)::bigint
				as week_settled,
			coalesce(sum(d.settled_micros) filter (where d.day >= p.month and d.day < p.next_month), 0)::bigint
				as month_settled
		from p left join limit_daily_spend d
			on d.user_id = ${userId}::uuid and d.provider = ${provider} and d.key_source = ${keySource}
			and d.day >= least(p.week, p.month) and d.day < greatest(p.week + 7, p.next_month)
		group by p.week, p.month, p.next_month`.execute(db);
	const row = sums.rows[0];
	if (!row) return crossed;
	const periods = [
		{ metric: 'weekly_cap', limit: limits.weeklyCapMicros, after: row.week_settled, start: row.week },
		{ metric: 'monthly_cap', limit: limits.monthlyCapMicros, after: row.month_settled, start: row.month }
	] as const;
	for (const { metric, limit, after, start } of periods) {
		if (limit === null) continue;
		const windowStart = new Date(`${start}T00:00:00Z`);
		crossed.push(
			...thresholdNotifications({
				userId,
				provider,
				keySource,
				metric,
				limit,
				before: Number(after) - costMicros,
				after: Number(after),
				windowStart,
				resetsAt: metric === 'weekly_cap' ? nextWeekStart(start) : nextMonthStart(start)
			})
		);
	}
	return crossed;
}
