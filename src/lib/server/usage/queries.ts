import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { parseInput } from '$lib/server/validation';
import {
	dailyUsage,
	startOfUtcDay,
	startOfUtcMonth,
	summarizeUsage,
	usageByModel,
	type UsageRange
} from './aggregates';

/** Inputs of the `usage` router and the shapes the dashboard reads. */

const DAY_MS = 86_400_000;

export const summaryInput = z
	.object({
		period: z
			.enum(['month', '7d', '30d', '90d'], { errorMap: () => ({ message: 'period must be month, 7d, 30d or 90d.' }) })
			.default('month')
	})
	.strict()
	.default({});

export const dailyInput = z
	.object({
		days: z
			.number({ invalid_type_error: 'days must be a number.' })
			.int('days must be a whole number.')
			.min(1, 'days must be at least 1.')
			.max(366, 'days can be at most 366.')
			.default(30)
	})
	.strict()
	.default({});

export function rangeOf(period: 'month' | '7d' | '30d' | '90d', now = new Date()): UsageRange {
	const to = new Date(startOfUtcDay(now).getTime() + DAY_MS);
	if (period === 'month') return { from: startOfUtcMonth(now), to };
	const days = Number(period.replace('d', ''));
	return { from: new Date(to.getTime() - days * DAY_MS), to };
}

export async function usageSummary(db: Kysely<Database>, userId: string, input: unknown, now = new Date()) {
	const { period } = parseInput(summaryInput, input ?? {});
	const range = rangeOf(period, now);
	const [totals, byModel] = await Promise.all([summarizeUsage(db, userId, range), usageByModel(db, userId, range)]);
	const sum = (pick: (t: (typeof totals)[number]) => number, source?: 'user' | 'app') =>
		totals.filter((t) => !source || t.keySource === source).reduce((acc, t) => acc + pick(t), 0);
	return {
		period,
		from: range.from,
		to: range.to,
		totals,
		byModel,
		requests: sum((t) => t.requests),
		costMicros: sum((t) => t.costMicros),
		ownKeyCostMicros: sum((t) => t.costMicros, 'user'),
		appKeyCostMicros: sum((t) => t.costMicros, 'app'),
		/** What own keys paid that the app's key would otherwise have paid. */
		savingsMicros: sum((t) => t.costMicros, 'user')
	};
}

export async function usageDaily(db: Kysely<Database>, userId: string, input: unknown, now = new Date()) {
	const { days } = parseInput(dailyInput, input ?? {});
	const to = new Date(startOfUtcDay(now).getTime() + DAY_MS);
	const from = new Date(to.getTime() - days * DAY_MS);
	return { from, to, days: await dailyUsage(db, userId, { from, to }) };
}
