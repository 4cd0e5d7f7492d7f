import { sql, type Kysely } from 'kysely';
import { formatUsd } from '$lib/money';
import type { Database } from '$lib/server/db';
import type { NewNotification } from '$lib/server/notifications';
import { formatResetTime } from './messages';

const DAY_MS = 86_400_000;

export interface AppBudgetCrossing {
	budgetMicros: number;
	/** The app row's settled amount before and after this change. */
	before: number;
	after: number;
	/** UTC day, YYYY-MM-DD. */
	day: string;
	now?: Date;
}

/** Every admin's notification when app-key spend crosses 80 % or 100 % of the day's budget (none otherwise). */
export async function appBudgetNotices(db: Kysely<Database>, crossing: AppBudgetCrossing): Promise<NewNotification[]> {
	const { budgetMicros, before, after, day } = crossing;
	if (budgetMicros <= 0) return [];
	const eighty = Math.ceil((budgetMicros * 4) / 5);
	const crossed = (threshold: number) => before < threshold && after >= threshold;
	const dayStart = new Date(`${day}T00:00:00Z`);
	const reset = formatResetTime(new Date(dayStart.getTime() + DAY_MS), dayStart);
	const kinds: { kind: NewNotification['kind']; message: string }[] = [];
	if (crossed(eighty)) {
		kinds.push({
			kind: 'app_budget_80',
			message: `The app's key has spent 80% of today's budget (${formatUsd(after)} of ${formatUsd(budgetMicros)}). It resets at ${reset}.`
		});
	}
	if (crossed(budgetMicros)) {
		kinds.push({
			kind: 'app_budget_100',
			message: `The app's key has spent today's budget (${formatUsd(budgetMicros)}): it answers no one until ${reset}.`
		});
	}
	if (kinds.length === 0) return [];
	const admins = await db.selectFrom('users').select('id').where('role', '=', 'admin').execute();
	const base = { provider: 'openrouter', keySource: 'app', windowKey: `app_budget:${day}` } as const;
	return admins.flatMap(({ id }) =>
		kinds.map((k) => ({ ...base, ...k, userId: id, ...(crossing.now ? { now: crossing.now } : {}) }))
	);
}

export interface AppBudgetToday {
	budgetMicros: number | null;
	settledMicros: number;
	reservedMicros: number;
	resetsAt: Date;
}

/** Today's app-key spend against the budget, for the admin overview. */
export async function appBudgetToday(db: Kysely<Database>, budgetMicros: number | null): Promise<AppBudgetToday> {
	const row = await db
		.selectFrom(sql<{ day: Date }>`(select (now() at time zone 'UTC')::date as day)`.as('today'))
		.leftJoin('app_daily_spend', 'app_daily_spend.day', 'today.day')
		.select([
			sql<string>`to_char(today.day, 'YYYY-MM-DD')`.as('day'),
			sql<number>`coalesce(app_daily_spend.settled_micros, 0)`.as('settled'),
			sql<number>`coalesce(app_daily_spend.reserved_micros, 0)`.as('reserved')
		])
		.executeTakeFirstOrThrow();
	return {
		budgetMicros,
		settledMicros: Number(row.settled),
		reservedMicros: Number(row.reserved),
		resetsAt: new Date(Date.parse(`${row.day}T00:00:00Z`) + DAY_MS)
	};
}
