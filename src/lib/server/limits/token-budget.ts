import { formatUsd } from '$lib/money';
import type { AdmitRow } from './admit';
import { formatResetTime } from './messages';
import { LimitRefusal } from './refusals';
import { nextMonthStart } from './period-caps';
import type { AdmitRequest } from './types';

/**
 * The access token's own budget refused (issue 21): spent for this UTC day or month, or this
 * request's worst case does not fit in what is left. A 402 like the spending caps, with the reset
 * time; the account's caps and the token's other requests are unaffected.
 */
export function tokenBudgetRefusal(request: AdmitRequest, row: AdmitRow, dayEnd: Date): LimitRefusal {
	const daily = row.token_daily_budget_micros !== null && row.token_day_settled_after === null;
	const period = daily ? 'daily' : 'monthly';
	const budget = (daily ? row.token_daily_budget_micros : row.token_monthly_budget_micros) ?? 0;
	const settled = (daily ? row.snapshot_token_day_settled : row.snapshot_token_month_settled) ?? 0;
	const reserved = (daily ? row.snapshot_token_day_reserved : row.snapshot_token_month_reserved) ?? 0;
	const resetsAt = daily ? dayEnd : nextMonthStart(row.day);
	const spent = settled >= budget;
	const when = `It resets at ${formatResetTime(resetsAt, row.now)}.`;
	const message = spent
		? `This access token has used its ${period} budget of ${formatUsd(budget)}. ${when}`
		: `This request could cost up to ${formatUsd(request.reserveMicros)}, more than the ${formatUsd(Math.max(0, budget - settled - reserved))} left of this access token's ${period} budget of ${formatUsd(budget)} (counting requests still running). Ask for fewer output tokens (max_tokens), or wait: ${when}`;
	return new LimitRefusal('spend_cap_reached', message, {
		reason: daily ? 'token_daily_budget' : 'token_monthly_budget',
		details: {
			provider: request.provider,
			keySource: request.keySource,
			budgetMicros: budget,
			settledMicros: settled,
			reservedMicros: reserved,
			requestedMicros: request.reserveMicros,
			paused: spent,
			resetsAt: resetsAt.toISOString()
		}
	});
}
