import { redirect } from '@sveltejs/kit';
import { listModels } from '$lib/server/catalog';
import { getEffectiveLimits } from '$lib/server/limits';
import { usageDaily, usageSummary } from '$lib/server/usage';
import type { PageServerLoad } from './$types';

const PERIODS = ['month', '7d', '30d', '90d'] as const;
type Period = (typeof PERIODS)[number];
const isPeriod = (value: string | null): value is Period => PERIODS.includes(value as Period);

/**
 * The usage dashboard: totals and the per-model table for the chosen period (`?period=`), daily
 * figures for the charts over the same days, the limits in force with this hour's and today's
 * use, and month-to-date savings (always this month, whatever period is shown).
 */
export const load: PageServerLoad = async ({ locals, url }) => {
	const user = locals.user;
	if (!user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
	const { db, config } = locals.services;
	const requested = url.searchParams.get('period');
	const period: Period = isPeriod(requested) ? requested : 'month';
	const now = new Date();
	// "This month" charts every day since the 1st (UTC); the others their number of days.
	const days = period === 'month' ? now.getUTCDate() : Number(period.slice(0, -1));
	const [summary, month, daily, limits] = await Promise.all([
		usageSummary(db, user.id, { period }, now),
		period === 'month' ? null : usageSummary(db, user.id, { period: 'month' }, now),
		usageDaily(db, user.id, { days }, now),
		getEffectiveLimits(db, config.limitDefaults, user.id)
	]);
	return {
		period,
		summary,
		monthSavingsMicros: (month ?? summary).savingsMicros,
		monthCostMicros: (month ?? summary).costMicros,
		daily,
		limits,
		modelNames: Object.fromEntries(listModels().map((m) => [m.id, m.displayName]))
	};
};
