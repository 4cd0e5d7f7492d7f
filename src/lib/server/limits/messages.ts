import { formatUsd } from '$lib/money';
import { providerName } from '$lib/providers';
import type { Provider } from '$lib/server/config';
import type { EffectiveLimits, KeySource } from './types';

/** User-facing wording for limits: which limit, on which key, and when it resets (always UTC). */

export const formatCount = (n: number): string => n.toLocaleString('en-US');

/** "14:00 UTC"; a reset on another calendar day than `now` also names the date. */
export function formatResetTime(resetsAt: Date, now: Date): string {
	const time = `${resetsAt.toISOString().slice(11, 16)} UTC`;
	const nextDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
	if (resetsAt.getTime() <= nextDay.getTime()) return time;
	return `${time} on ${resetsAt.toISOString().slice(0, 10)}`;
}

/** "on your own key" / "on the app's key". */
export const onKey = (keySource: KeySource): string => (keySource === 'user' ? 'on your own key' : "on the app's key");

export function rateLimitMessage(
	provider: Provider,
	keySource: KeySource,
	limit: 'requests_per_hour' | 'tokens_per_hour',
	value: number,
	resetsAt: Date,
	now: Date
): string {
	const what = limit === 'requests_per_hour' ? 'requests-per-hour' : 'tokens-per-hour';
	const where = keySource === 'app' ? ` ${onKey(keySource)}` : '';
	return `You reached your ${providerName(provider)} ${what} limit${where} (${formatCount(value)}). It resets at ${formatResetTime(resetsAt, now)}.`;
}

export function capReachedMessage(
	provider: Provider,
	keySource: KeySource,
	capMicros: number,
	resetsAt: Date,
	now: Date
) {
	return `You reached your daily ${providerName(provider)} spending cap ${onKey(keySource)} (${formatUsd(capMicros)}). It resets at ${formatResetTime(resetsAt, now)}.`;
}

export function capTooSmallMessage(
	provider: Provider,
	keySource: KeySource,
	capMicros: number,
	leftMicros: number,
	reserveMicros: number,
	resetsAt: Date,
	now: Date
) {
	return (
		`This request could cost up to ${formatUsd(reserveMicros)}, more than the ${formatUsd(Math.max(0, leftMicros))} left ` +
		`(counting requests still running) of your daily ${providerName(provider)} spending cap ${onKey(keySource)} ` +
		`(${formatUsd(capMicros)}). It resets at ${formatResetTime(resetsAt, now)}.`
	);
}

/** A $0 cap never resets by itself: say who can raise it instead of when. */
export function capOffMessage(provider: Provider, keySource: KeySource) {
	const name = providerName(provider);
	return (
		`Your daily ${name} spending cap ${onKey(keySource)} is $0.00, so requests there are switched off. ` +
		`Raise it under ${name} limits on the API keys page, or ask an admin if it cannot go higher.`
	);
}

/** Refused because this request's worst-case tokens do not fit in what is left of this hour's limit. */
export function tokensDoNotFitMessage(
	provider: Provider,
	keySource: KeySource,
	limit: number,
	leftTokens: number,
	reserveTokens: number,
	resetsAt: Date,
	now: Date
): string {
	const where = keySource === 'app' ? ` ${onKey(keySource)}` : '';
	return (
		`This request could use up to ${formatCount(reserveTokens)} tokens, more than the ${formatCount(Math.max(0, leftTokens))} left ` +
		`(counting requests still running) of your ${providerName(provider)} tokens-per-hour limit${where} ` +
		`(${formatCount(limit)}). It resets at ${formatResetTime(resetsAt, now)}.`
	);
}

/** Refused for good: this request's worst case alone is more than the whole hourly token limit. */
export function tokensOverWholeLimitMessage(
	provider: Provider,
	keySource: KeySource,
	limit: number,
	reserveTokens: number
): string {
	const where = keySource === 'app' ? ` ${onKey(keySource)}` : '';
	return (
		`This request could use up to ${formatCount(reserveTokens)} tokens (its prompt plus the longest answer allowed), ` +
		`more than your whole ${providerName(provider)} tokens-per-hour limit${where} (${formatCount(limit)}), so waiting will not help. ` +
		`Ask for a shorter answer (a lower max_tokens) or shorten the conversation.`
	);
}

export function appBudgetSpentMessage(provider: Provider, budgetMicros: number, resetsAt: Date, now: Date) {
	return (
		`The app's key has used up today's budget, shared by all users (${formatUsd(budgetMicros)}). It resets at ` +
		`${formatResetTime(resetsAt, now)}. Add your own ${providerName(provider)} key on the API keys page to keep going.`
	);
}

/** What the API keys page says once a user saved their limits for `provider`. */
export function limitsSavedNotice(provider: Provider, limits: EffectiveLimits): string {
	const saved = limits.providers.find((p) => p.provider === provider);
	if (!saved) return `Saved your ${providerName(provider)} limits.`;
	const { own, app } = saved;
	const periods = [
		[own.weeklyCapMicros, 'a week on your own key'],
		[own.monthlyCapMicros, 'a month on your own key'],
		[app.weeklyCapMicros, "a week on the app's key"],
		[app.monthlyCapMicros, "a month on the app's key"]
	] as const;
	const more = periods.flatMap(([cap, what]) => (cap === null ? [] : [`, ${formatUsd(cap)} ${what}`])).join('');
	return `Saved your ${providerName(provider)} limits: ${formatUsd(own.dailyCapMicros)} a day on your own key, ${formatUsd(app.dailyCapMicros)} a day on the app's key${more}, ${formatCount(own.requestsPerHour)} requests an hour.`;
}
