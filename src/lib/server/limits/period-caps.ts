import { formatUsd } from '$lib/money';
import { providerName } from '$lib/providers';
import type { AdmitRow } from './admit';
import { formatResetTime, onKey } from './messages';
import { LimitRefusal } from './refusals';
import type { AdmitRequest } from './types';

const DAY_MS = 86_400_000;

/** UTC midnight of the Monday after the week starting `weekStart` (YYYY-MM-DD, a Monday). */
export function nextWeekStart(weekStart: string): Date {
	return new Date(Date.parse(`${weekStart}T00:00:00Z`) + 7 * DAY_MS);
}

/** UTC midnight starting the month after the one `day` (YYYY-MM-DD) is in. */
export function nextMonthStart(day: string): Date {
	const [year, month] = day.split('-').map(Number);
	return new Date(Date.UTC(year ?? 1970, month ?? 1, 1));
}

interface Refused {
	cap: number;
	settled: number;
	reserved: number;
}

/** Whether the cap refuses on these counters: spent, or this worst case does not fit. */
const refuses = ({ cap, settled, reserved }: Refused, request: number) =>
	settled >= cap || settled + reserved + request > cap;

/**
 * The weekly or monthly cap refused (issue 21), decided from the statement's counters (today's row
 * as it saw it plus the earlier days it held locked); undefined when the daily cap is the one that
 * refused (or the snapshot is too stale to tell, then the daily refusal is the honest default).
 */
export function periodCapRefusal(request: AdmitRequest, row: AdmitRow): LimitRefusal | undefined {
	const today = { settled: row.snapshot_settled ?? 0, reserved: row.snapshot_reserved ?? 0 };
	if (refuses({ cap: row.daily_cap_micros, ...today }, request.reserveMicros)) return undefined;
	const periods = [
		{
			period: 'weekly' as const,
			cap: row.weekly_cap_micros,
			settled: today.settled + (row.prior_week_settled ?? 0),
			reserved: today.reserved + (row.prior_week_reserved ?? 0),
			resetsAt: nextWeekStart(row.week_start)
		},
		{
			period: 'monthly' as const,
			cap: row.monthly_cap_micros,
			settled: today.settled + (row.prior_month_settled ?? 0),
			reserved: today.reserved + (row.prior_month_reserved ?? 0),
			resetsAt: nextMonthStart(row.day)
		}
	];
	for (const { period, cap, settled, reserved, resetsAt } of periods) {
		if (cap === null || !refuses({ cap, settled, reserved }, request.reserveMicros)) continue;
		const { provider, keySource, reserveMicros } = request;
		const what = `${period} ${providerName(provider)} spending cap ${onKey(keySource)} (${formatUsd(cap)})`;
		const when = cap === 0 ? '' : ` It resets at ${formatResetTime(resetsAt, row.now)}.`;
		const message =
			cap === 0
				? `Your ${what} switches requests there off. Raise it under ${providerName(provider)} limits on the API keys page.`
				: settled >= cap
					? `You reached your ${what}.${when}`
					: `This request could cost up to ${formatUsd(reserveMicros)}, more than the ${formatUsd(Math.max(0, cap - settled - reserved))} left (counting requests still running) of your ${what}.${when}`;
		return new LimitRefusal('spend_cap_reached', message, {
			reason: `${keySource === 'app' ? 'app_' : ''}${period}_cap`,
			details: {
				limit: cap,
				capMicros: cap,
				settledMicros: settled,
				reservedMicros: reserved,
				requestedMicros: reserveMicros,
				provider,
				keySource,
				paused: settled >= cap,
				...(cap === 0 ? {} : { resetsAt: resetsAt.toISOString() })
			}
		});
	}
	return undefined;
}

/** The model's own daily cap refused (issue 21): spent today, or this worst case does not fit. */
export function modelCapRefusal(request: AdmitRequest, row: AdmitRow, dayEnd: Date): LimitRefusal {
	const cap = row.model_daily_cap_micros ?? 0;
	const settled = row.snapshot_model_settled ?? 0;
	const reserved = row.snapshot_model_reserved ?? 0;
	const model = request.model ?? 'this model';
	const what = `daily spending cap for ${model} (${formatUsd(cap)})`;
	const when = cap === 0 ? '' : ` It resets at ${formatResetTime(dayEnd, row.now)}.`;
	const message =
		cap === 0
			? `Your ${what} switches this model off. Raise or remove it on the API keys page.`
			: settled >= cap
				? `You reached your ${what}.${when}`
				: `This request could cost up to ${formatUsd(request.reserveMicros)}, more than the ${formatUsd(Math.max(0, cap - settled - reserved))} left (counting requests still running) of your ${what}.${when}`;
	return new LimitRefusal('spend_cap_reached', message, {
		reason: 'model_daily_cap',
		details: {
			limit: cap,
			capMicros: cap,
			model,
			settledMicros: settled,
			reservedMicros: reserved,
			requestedMicros: request.reserveMicros,
			provider: request.provider,
			keySource: request.keySource,
			paused: settled >= cap,
			...(cap === 0 ? {} : { resetsAt: dayEnd.toISOString() })
		}
	});
}
