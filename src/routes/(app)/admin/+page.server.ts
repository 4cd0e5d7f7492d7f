import { adminAnalytics, analyticsPeriodOf, ANALYTICS_PRESET_DAYS, requireAdminPage } from '$lib/server/admin';
import { listInvites } from '$lib/server/auth';
import { appModelRulesView, listPriceOverrides } from '$lib/server/catalog';
import { isAppError } from '$lib/server/errors';
import { appBudgetToday } from '$lib/server/limits';
import { MAX_EXPORT_DAYS } from '$lib/server/usage';
import { lastHourAgainstBaseline } from '$lib/server/alerts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async (event) => {
	await requireAdminPage(event);
	const { db, config } = event.locals.services;
	const period = analyticsPeriodOf(event.url.searchParams);
	const [appBudget, invites, priceOverrides, unusualUsage] = await Promise.all([
		appBudgetToday(db, config.limitDefaults.appDailyBudgetMicros),
		config.signUp.mode === 'invite' ? listInvites(db) : null,
		listPriceOverrides(db),
		lastHourAgainstBaseline(db, undefined, 20)
	]);
	const shared = {
		appBudget,
		signUpMode: config.signUp.mode,
		invites,
		appModelRules: appModelRulesView(),
		priceOverrides,
		unusualUsage
	};
	try {
		return {
			...shared,
			period,
			analytics: await adminAnalytics(db, { from: period.from, to: period.to }),
			periodError: null,
			presets: ANALYTICS_PRESET_DAYS,
			maxExportDays: MAX_EXPORT_DAYS
		};
	} catch (error) {
		if (!isAppError(error) || error.code !== 'bad_request') throw error;
		// A custom period that does not parse: say why and show the default period instead.
		const fallback = analyticsPeriodOf(new URLSearchParams());
		return {
			...shared,
			period: { ...period, days: null },
			analytics: await adminAnalytics(db, { from: fallback.from, to: fallback.to }),
			periodError: error.message,
			presets: ANALYTICS_PRESET_DAYS,
			maxExportDays: MAX_EXPORT_DAYS
		};
	}
};
