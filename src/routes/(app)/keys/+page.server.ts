import { redirect } from '@sveltejs/kit';
import { providers, type Provider } from '$lib/server/config';
import { listKeys } from '$lib/server/keys';
import { getEffectiveLimits, type SourceLimits } from '$lib/server/limits';
import { fallbackPreferences } from '$lib/server/routing';
import { startOfUtcMonth, usageByKey, usageSummary } from '$lib/server/usage';
import type { MonthUsage, ProviderPanel, SourceLimitView } from '$lib/components/keys/types';
import type { PageServerLoad } from './$types';

const toView = (limits: SourceLimits): SourceLimitView => ({
	dailyCapMicros: limits.dailyCapMicros,
	ceilingDailyCapMicros: limits.ceiling.dailyCapMicros,
	usedTodayMicros: limits.used.settledTodayMicros,
	requestsPerHour: limits.requestsPerHour,
	ceilingRequestsPerHour: limits.ceiling.requestsPerHour,
	requestsThisHour: limits.used.requestsThisHour,
	weeklyCapMicros: limits.weeklyCapMicros,
	ceilingWeeklyCapMicros: limits.ceiling.weeklyCapMicros,
	usedThisWeekMicros: limits.used.settledThisWeekMicros,
	monthlyCapMicros: limits.monthlyCapMicros,
	ceilingMonthlyCapMicros: limits.ceiling.monthlyCapMicros,
	usedThisMonthMicros: limits.used.settledThisMonthMicros,
	paused: limits.paused,
	pausedUntil: limits.pausedUntil
});

export const load: PageServerLoad = async ({ locals, url }) => {
	const user = locals.user;
	if (!user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname)}`);
	const { db, config } = locals.services;
	const [keys, limits, fallback, summary, perKey] = await Promise.all([
		listKeys(db, user.id),
		getEffectiveLimits(db, config.limitDefaults, user.id),
		fallbackPreferences(db, user.id),
		usageSummary(db, user.id, { period: 'month' }),
		usageByKey(db, user.id, startOfUtcMonth())
	]);
	const usageOf = (provider: Provider, keySource: 'user' | 'app'): MonthUsage => {
		const total = summary.totals.find((t) => t.provider === provider && t.keySource === keySource);
		return { requests: total?.requests ?? 0, costMicros: total?.costMicros ?? 0 };
	};
	const panels: ProviderPanel[] = limits.providers.map(({ provider, own, app }) => ({
		provider,
		key: keys.find((k) => k.provider === provider) ?? null,
		keys: keys
			.filter((k) => k.provider === provider)
			.map((k) => ({ ...k, monthUsage: perKey.get(k.id) ?? { requests: 0, costMicros: 0 } })),
		allowFallback: fallback[provider],
		own: toView(own),
		app: toView(app),
		usage: { own: usageOf(provider, 'user'), app: usageOf(provider, 'app') },
		modelCaps: limits.modelCaps
			.filter((cap) => cap.model.startsWith(`${provider}/`))
			.map((cap) => ({
				model: cap.model,
				dailyCapMicros: cap.dailyCapMicros,
				adminCeiling: cap.adminCeiling,
				usedTodayMicros: cap.settledTodayMicros,
				paused: cap.paused
			}))
	}));
	const wanted = url.searchParams.get('provider');
	return {
		panels,
		/** `?provider=` (the cards' "Replace" links) preselects the add form's provider. */
		selectedProvider: providers.find((p) => p === wanted) ?? null,
		/** `?openrouter=` is the outcome code "Connect OpenRouter" came back with (shown in fixed words). */
		openrouterOutcome: url.searchParams.get('openrouter')?.slice(0, 40) ?? null,
		appKeyAvailable: Boolean(config.appOpenRouterKey),
		// The database clock, so reset times read the same on the server and after hydration.
		now: limits.now
	};
};
