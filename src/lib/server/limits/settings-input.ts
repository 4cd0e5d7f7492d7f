import { z } from 'zod';
import { providers, type Provider } from '$lib/server/config';
import { usdToMicros } from '$lib/money';
import { formatCount } from './messages';
import type { KeySource, LimitSettingValues } from './types';

export const MAX_REQUESTS_PER_HOUR = 1_000_000;
export const MAX_TOKENS_PER_HOUR = 1_000_000_000;
export const MAX_DAILY_CAP_USD = 10_000;
/** Weekly and monthly caps may go higher than a day's. */
export const MAX_PERIOD_CAP_USD = 100_000;

function wholeNumber(field: string, max: number) {
	const message = `${field} must be a whole number from 0 to ${formatCount(max)}.`;
	return z
		.number({ invalid_type_error: message })
		.int({ message })
		.min(0, { message })
		.max(max, { message })
		.nullable()
		.optional();
}

/** USD as a JSON number with at most 6 decimals (a micro-dollar); becomes integer micros. */
function usdAmount(field: string, max = MAX_DAILY_CAP_USD) {
	const message = `${field} must be an amount in US dollars from 0 to ${formatCount(max)} with at most 6 decimals.`;
	return z
		.number({ invalid_type_error: message })
		.finite({ message })
		.min(0, { message })
		.max(max, { message })
		.refine((usd) => usdToMicros(usd) !== undefined, { message })
		.nullable()
		.optional();
}

const limitFields = {
	provider: z.enum(providers as [Provider, ...Provider[]], {
		errorMap: () => ({ message: `provider must be one of ${providers.join(', ')}.` })
	}),
	/** Applies to both key sources. null = back to the ceiling. */
	requestsPerHour: wholeNumber('requestsPerHour', MAX_REQUESTS_PER_HOUR),
	/** Applies to both key sources. */
	tokensPerHour: wholeNumber('tokensPerHour', MAX_TOKENS_PER_HOUR),
	/** The daily cap on the user's own key. */
	dailyCapUsd: usdAmount('dailyCapUsd'),
	/** The daily cap on the app's key. */
	appDailyCapUsd: usdAmount('appDailyCapUsd'),
	/** Weekly (UTC, from Monday) and monthly (UTC) caps on the own key and on the app's key; null = none. */
	weeklyCapUsd: usdAmount('weeklyCapUsd', MAX_PERIOD_CAP_USD),
	monthlyCapUsd: usdAmount('monthlyCapUsd', MAX_PERIOD_CAP_USD),
	appWeeklyCapUsd: usdAmount('appWeeklyCapUsd', MAX_PERIOD_CAP_USD),
	appMonthlyCapUsd: usdAmount('appMonthlyCapUsd', MAX_PERIOD_CAP_USD)
};

/** `limits.set` input. A field left out is unchanged; null clears the user's own setting. */
export const setLimitsInput = z.object(limitFields).strict();
export type SetLimitsInput = z.output<typeof setLimitsInput>;

/** `admin.setLimits` input: the same fields set the admin's ceilings (null clears a ceiling). */
export const adminSetLimitsInput = z
	.object({
		userId: z.string({ invalid_type_error: 'userId must be a user id.' }).uuid('userId must be a user id.'),
		...limitFields
	})
	.strict();
export type AdminSetLimitsInput = z.output<typeof adminSetLimitsInput>;

type CapField = 'dailyCapMicros' | 'weeklyCapMicros' | 'monthlyCapMicros';

/** The per-key-source changes an input asks for: undefined = leave, null = clear. */
export function changesOf(input: SetLimitsInput): Record<KeySource, Partial<LimitSettingValues>> {
	const micros = (usd: number | null | undefined) => {
		if (usd === undefined || usd === null) return usd;
		const value = usdToMicros(usd);
		// usdAmount() admits only amounts that read as whole micro-dollars.
		if (value === undefined) throw new RangeError('a validated USD amount did not parse');
		return value;
	};
	const shared: Partial<LimitSettingValues> = {};
	if (input.requestsPerHour !== undefined) shared.requestsPerHour = input.requestsPerHour;
	if (input.tokensPerHour !== undefined) shared.tokensPerHour = input.tokensPerHour;
	const own = { ...shared };
	const app = { ...shared };
	const set = (target: Partial<LimitSettingValues>, field: CapField, usd: number | null | undefined) => {
		const value = micros(usd);
		if (value !== undefined) target[field] = value;
	};
	set(own, 'dailyCapMicros', input.dailyCapUsd);
	set(app, 'dailyCapMicros', input.appDailyCapUsd);
	set(own, 'weeklyCapMicros', input.weeklyCapUsd);
	set(app, 'weeklyCapMicros', input.appWeeklyCapUsd);
	set(own, 'monthlyCapMicros', input.monthlyCapUsd);
	set(app, 'monthlyCapMicros', input.appMonthlyCapUsd);
	return { user: own, app };
}
