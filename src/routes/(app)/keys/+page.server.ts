import { fail, redirect } from '@sveltejs/kit';
import { formatUsd, microsToUsd, usdToMicros } from '$lib/money';
import { PROVIDER_NAMES } from '$lib/providers';
import { providers, type Provider } from '$lib/server/config';
import { badRequest, isAppError } from '$lib/server/errors';
import { listKeys, removeKey, setKeyActive, upsertKey, validateKey, type KeyActor } from '$lib/server/keys';
import {
	getEffectiveLimits,
	setLimitsInput,
	setUserLimits,
	type ProviderLimits,
	type SourceLimits
} from '$lib/server/limits';
import { fallbackPreferences, setFallbackPreference } from '$lib/server/routing';
import { usageSummary } from '$lib/server/usage';
import { parseInput } from '$lib/server/validation';
import type {
	KeyAction,
	KeyActionResult,
	MonthUsage,
	ProviderPanel,
	SourceLimitView
} from '$lib/components/keys/types';
import type { Actions, PageServerLoad } from './$types';

const toView = (limits: SourceLimits): SourceLimitView => ({
	dailyCapMicros: limits.dailyCapMicros,
	ceilingDailyCapMicros: limits.ceiling.dailyCapMicros,
	usedTodayMicros: limits.used.settledTodayMicros,
	requestsPerHour: limits.requestsPerHour,
	ceilingRequestsPerHour: limits.ceiling.requestsPerHour,
	requestsThisHour: limits.used.requestsThisHour,
	paused: limits.paused,
	pausedUntil: limits.pausedUntil
});

export const load: PageServerLoad = async ({ locals, url }) => {
	const user = locals.user;
	if (!user) redirect(303, `/signin?redirectTo=${encodeURIComponent(url.pathname)}`);
	const { db, config } = locals.services;
	const [keys, limits, fallback, summary] = await Promise.all([
		listKeys(db, user.id),
		getEffectiveLimits(db, config.limitDefaults, user.id),
		fallbackPreferences(db, user.id),
		usageSummary(db, user.id, { period: 'month' })
	]);
	const usageOf = (provider: Provider, keySource: 'user' | 'app'): MonthUsage => {
		const total = summary.totals.find((t) => t.provider === provider && t.keySource === keySource);
		return { requests: total?.requests ?? 0, costMicros: total?.costMicros ?? 0 };
	};
	const panels: ProviderPanel[] = limits.providers.map(({ provider, own, app }) => ({
		provider,
		key: keys.find((k) => k.provider === provider) ?? null,
		allowFallback: fallback[provider],
		own: toView(own),
		app: toView(app),
		usage: { own: usageOf(provider, 'user'), app: usageOf(provider, 'app') }
	}));
	const wanted = url.searchParams.get('provider');
	return {
		panels,
		/** `?provider=` (the cards' "Replace" links) preselects the add form's provider. */
		selectedProvider: providers.find((p) => p === wanted) ?? null,
		appKeyAvailable: Boolean(config.appOpenRouterKey),
		// The database clock, so reset times read the same on the server and after hydration.
		now: limits.now
	};
};

// ---- form actions (they work without JavaScript; the page enhances them) --------------------------

const text = (form: FormData, name: string) => {
	const value = form.get(name);
	return typeof value === 'string' ? value : '';
};

const providerOf = (form: FormData): Provider | null => providers.find((p) => p === text(form, 'provider')) ?? null;

const actorOf = (locals: App.Locals): KeyActor | null =>
	locals.user ? { userId: locals.user.id, ip: locals.clientIp || null } : null;

const ok = (action: KeyAction, provider: Provider | null, message: string): KeyActionResult => ({
	action,
	provider,
	ok: true,
	message
});

/** An `AppError` becomes the form's message (they are written for users); anything else is a 500. */
function failed(action: KeyAction, provider: Provider | null, error: unknown, extra: Partial<KeyActionResult> = {}) {
	if (!isAppError(error)) throw error;
	const field = typeof error.details?.field === 'string' ? error.details.field : null;
	const result: KeyActionResult = { action, provider, ok: false, message: error.message, field, ...extra };
	return fail(error.status, result);
}

const signedOut = (action: KeyAction) =>
	fail(401, { action, provider: null, ok: false, message: 'Sign in to continue.' } satisfies KeyActionResult);

/** Finds which provider a key id belongs to (the caller's keys only), for the result's placement. */
async function keyOf(locals: App.Locals, userId: string, id: string) {
	return (await listKeys(locals.services.db, userId)).find((k) => k.id === id);
}

export const actions: Actions = {
	/** Adds or replaces the provider's key; the key goes to the key manager and nowhere else. */
	add: async ({ request, locals }) => {
		const actor = actorOf(locals);
		if (!actor) return signedOut('add');
		const form = await request.formData();
		const provider = providerOf(form);
		const label = text(form, 'label');
		try {
			const { notice } = await upsertKey(locals.services, actor, {
				provider: text(form, 'provider'),
				apiKey: text(form, 'apiKey'),
				// Empty: a replacement keeps the previous key's label.
				label: label.trim() === '' ? undefined : label
			});
			return ok('add', provider, notice);
		} catch (error) {
			return failed('add', provider, error, { label });
		}
	},

	test: async ({ request, locals }) => {
		const actor = actorOf(locals);
		if (!actor) return signedOut('test');
		const id = text(await request.formData(), 'id');
		const before = await keyOf(locals, actor.userId, id);
		try {
			// A key found invalid is announced in the bell by the key manager itself.
			const checked = await validateKey(locals.services, actor, { id });
			return ok('test', checked.key.provider, checked.notice);
		} catch (error) {
			return failed('test', before?.provider ?? null, error);
		}
	},

	setActive: async ({ request, locals }) => {
		const actor = actorOf(locals);
		if (!actor) return signedOut('setActive');
		const form = await request.formData();
		const active = text(form, 'active') === 'true';
		try {
			const key = await setKeyActive(locals.services, actor, { id: text(form, 'id'), active });
			const name = PROVIDER_NAMES[key.provider];
			return ok(
				'setActive',
				key.provider,
				active
					? `Your ${name} key (…${key.last4}) is switched on again.`
					: `Your ${name} key (…${key.last4}) is switched off. ${name} models use the app's key while it is off, if you allow that below.`
			);
		} catch (error) {
			return failed('setActive', null, error);
		}
	},

	remove: async ({ request, locals }) => {
		const actor = actorOf(locals);
		if (!actor) return signedOut('remove');
		const id = text(await request.formData(), 'id');
		const before = await keyOf(locals, actor.userId, id);
		try {
			await removeKey(locals.services, actor, { id });
			const provider = before?.provider ?? null;
			const what = provider ? `your ${PROVIDER_NAMES[provider]} key (…${before?.last4})` : 'the key';
			return ok(
				'remove',
				provider,
				`Removed ${what}. It is deleted from Latchkey; revoke it on the provider's site too if you no longer use it.`
			);
		} catch (error) {
			return failed('remove', before?.provider ?? null, error);
		}
	},

	fallback: async ({ request, locals }) => {
		const actor = actorOf(locals);
		if (!actor) return signedOut('fallback');
		const form = await request.formData();
		const provider = providerOf(form);
		const allowFallback = text(form, 'allowFallback') === 'true';
		try {
			const saved = await setFallbackPreference(locals.services.db, actor.userId, {
				provider: text(form, 'provider'),
				allowFallback
			});
			const name = PROVIDER_NAMES[saved.provider];
			return ok(
				'fallback',
				saved.provider,
				saved.allowFallback
					? `The app's key now answers ${name} models when your own key cannot.`
					: `The app's key no longer answers ${name} models: without a working key of your own they are unavailable.`
			);
		} catch (error) {
			return failed('fallback', provider, error);
		}
	},

	/** Own-key cap, app-key cap and requests per hour; only what the user changed is sent on. */
	limits: async ({ request, locals }) => {
		const actor = actorOf(locals);
		if (!actor) return signedOut('limits');
		const form = await request.formData();
		const provider = providerOf(form);
		const { db, config } = locals.services;
		try {
			const current = (await getEffectiveLimits(db, config.limitDefaults, actor.userId)).providers.find(
				(p) => p.provider === provider
			);
			const input = parseInput(setLimitsInput, {
				provider: text(form, 'provider'),
				...changedLimits(form, current)
			});
			const after = await setUserLimits(db, config.limitDefaults, actor.userId, input);
			const now = after.providers.find((p) => p.provider === input.provider);
			const name = PROVIDER_NAMES[input.provider];
			return ok(
				'limits',
				input.provider,
				now
					? `Saved your ${name} limits: ${formatUsd(now.own.dailyCapMicros)} a day on your own key, ${formatUsd(now.app.dailyCapMicros)} a day on the app's key, ${now.own.requestsPerHour.toLocaleString('en-US')} requests an hour.`
					: `Saved your ${name} limits.`
			);
		} catch (error) {
			return failed('limits', provider, error, { field: limitsFieldOf(error) });
		}
	}
};

/** The form field a limits error is about: the domain names its own fields (`dailyCapMicros` + key source). */
function limitsFieldOf(error: unknown): string | null {
	if (!isAppError(error)) return null;
	const { field, keySource } = error.details ?? {};
	if (field === 'dailyCapMicros') return keySource === 'app' ? 'appDailyCapUsd' : 'dailyCapUsd';
	return typeof field === 'string' ? field : null;
}

/**
 * The form shows the limits in force; a field left as shown is not sent (so saving does not pin
 * today's defaults as the user's own choice), an emptied field clears the user's own setting
 * (back to the most allowed), and anything else is the new value. Unreadable text is a 400.
 */
function changedLimits(form: FormData, current: ProviderLimits | undefined) {
	const changes: { dailyCapUsd?: number | null; appDailyCapUsd?: number | null; requestsPerHour?: number | null } = {};
	const read = (
		name: keyof typeof changes,
		shown: number | undefined,
		ownSetting: number | null | undefined,
		parse: (raw: string) => number,
		problem: string
	) => {
		const raw = text(form, name).trim();
		if (raw === '') {
			if (ownSetting !== null && ownSetting !== undefined) changes[name] = null;
			return;
		}
		const value = parse(raw);
		if (!Number.isFinite(value)) throw badRequest(problem, { details: { field: name } });
		if (value !== shown) changes[name] = value;
	};
	const dollars = (raw: string) => {
		const micros = usdToMicros(raw);
		return micros === undefined ? NaN : microsToUsd(micros);
	};
	const whole = (raw: string) => {
		const digits = raw.replace(/[,\s]/g, '');
		return /^\d+$/.test(digits) ? Number(digits) : NaN;
	};
	const usdOf = (micros: number | null | undefined) =>
		micros === null || micros === undefined ? micros : microsToUsd(micros);
	read(
		'dailyCapUsd',
		usdOf(current?.own.dailyCapMicros) ?? undefined,
		usdOf(current?.own.userSetting.dailyCapMicros),
		dollars,
		'Enter the daily cap on your own key in US dollars, like 2.50, or leave it empty for the most allowed.'
	);
	read(
		'appDailyCapUsd',
		usdOf(current?.app.dailyCapMicros) ?? undefined,
		usdOf(current?.app.userSetting.dailyCapMicros),
		dollars,
		"Enter the daily cap on the app's key in US dollars, like 0.25, or leave it empty for the most allowed."
	);
	read(
		'requestsPerHour',
		current?.own.requestsPerHour,
		current?.own.userSetting.requestsPerHour,
		whole,
		'Enter requests per hour as a whole number, like 50, or leave it empty for the most allowed.'
	);
	return changes;
}
