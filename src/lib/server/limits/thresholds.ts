import type { Provider } from '$lib/server/config';
import type { NewNotification } from '$lib/server/notifications';
import { formatUsd } from '$lib/money';
import { providerName } from '$lib/providers';
import { formatCount, formatResetTime, onKey, rateLimitMessage } from './messages';
import type { KeySource } from './types';

export type LimitMetric =
	'requests_per_hour' | 'tokens_per_hour' | 'daily_cap' | 'weekly_cap' | 'monthly_cap' | 'model_daily_cap';

const capPeriod = { daily_cap: 'daily', weekly_cap: 'weekly', monthly_cap: 'monthly' } as const;
const capWindow = { daily_cap: "today's", weekly_cap: "this week's", monthly_cap: "this month's" } as const;

export interface ThresholdCrossing {
	userId: string;
	provider: Provider;
	keySource: KeySource;
	metric: LimitMetric;
	limit: number;
	/** The counter before and after this request's change; counters change one statement at a time, so
	 * exactly one request sees a given threshold crossed. */
	before: number;
	after: number;
	windowStart: Date;
	resetsAt: Date;
	/** The model, for 'model_daily_cap'. */
	model?: string;
	/** When it happened (the notification's time); defaults to the database's clock. */
	now?: Date;
}

/** The window a notification belongs to: the limit and its UTC hour or day. */
export function windowKey(metric: LimitMetric, windowStart: Date, model?: string): string {
	const iso = windowStart.toISOString();
	if (metric === 'model_daily_cap') return `${metric}:${iso.slice(0, 10)}:${model ?? ''}`.slice(0, 200);
	return metric === 'requests_per_hour' || metric === 'tokens_per_hour'
		? `${metric}:${iso.slice(0, 13)}:00Z`
		: `${metric}:${iso.slice(0, 10)}`;
}

/**
 * The notifications due because this change crossed 80 % or 100 % of a limit (reaching a daily cap
 * also pauses the key source). Computed from the counter values the statement returned, so the
 * common case (nothing crossed) costs nothing; the table's unique key sends each once per window.
 */
export function thresholdNotifications(crossing: ThresholdCrossing): NewNotification[] {
	const { userId, provider, keySource, metric, limit, before, after, resetsAt, now } = crossing;
	if (limit <= 0) return [];
	const eighty = Math.ceil((limit * 4) / 5);
	const key = windowKey(metric, crossing.windowStart, crossing.model);
	const base = { userId, provider, keySource, windowKey: key, ...(now ? { now } : {}) };
	// Relative to the window, not the clock: a window always resets within its own day or at the
	// next midnight, so the message names just the time.
	const reset = formatResetTime(resetsAt, crossing.windowStart);
	const name = providerName(provider);
	const out: NewNotification[] = [];
	const crossed = (threshold: number) => before < threshold && after >= threshold;

	if (metric === 'model_daily_cap') {
		const what = `daily spending cap for ${crossing.model ?? 'this model'}`;
		if (crossed(eighty))
			out.push({
				...base,
				kind: 'cap_80',
				message: `You have used 80% of your ${what} (${formatUsd(after)} of ${formatUsd(limit)}). It resets at ${reset}.`
			});
		if (crossed(limit))
			out.push({
				...base,
				kind: 'cap_100',
				message: `You reached your ${what} (${formatUsd(limit)}). It resets at ${reset}.`
			});
		return out;
	}
	if (metric === 'daily_cap' || metric === 'weekly_cap' || metric === 'monthly_cap') {
		const period = capPeriod[metric];
		if (crossed(eighty))
			out.push({
				...base,
				kind: 'cap_80',
				message: `You have used 80% of your ${period} ${name} spending cap ${onKey(keySource)} (${formatUsd(after)} of ${formatUsd(limit)}). It resets at ${reset}.`
			});
		if (crossed(limit)) {
			out.push({
				...base,
				kind: 'cap_100',
				message: `You reached your ${period} ${name} spending cap ${onKey(keySource)} (${formatUsd(limit)}). It resets at ${reset}.`
			});
			out.push({
				...base,
				kind: 'key_paused',
				message:
					keySource === 'user'
						? `Your own ${name} key is paused until ${reset}: ${capWindow[metric]} spending cap (${formatUsd(limit)}) is reached. It resumes by itself.`
						: `${name} requests on the app's key are paused until ${reset}: ${capWindow[metric]} spending cap (${formatUsd(limit)}) is reached. It resumes by itself.`
			});
		}
		return out;
	}

	const what = metric === 'requests_per_hour' ? 'requests-per-hour' : 'tokens-per-hour';
	const where = keySource === 'app' ? ` ${onKey(keySource)}` : '';
	if (crossed(eighty))
		out.push({
			...base,
			kind: 'hourly_80',
			message: `You have used 80% of your ${name} ${what} limit${where} (${formatCount(after)} of ${formatCount(limit)}). It resets at ${reset}.`
		});
	if (crossed(limit))
		out.push({
			...base,
			kind: 'hourly_100',
			message: rateLimitMessage(provider, keySource, metric, limit, resetsAt, crossing.windowStart)
		});
	return out;
}
