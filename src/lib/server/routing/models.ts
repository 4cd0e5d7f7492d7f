import type { Kysely } from 'kysely';
import type { Config } from '$lib/server/config';
import type { Database, KeySource } from '$lib/server/db';
import { listModels, modelsOfKey, MODELS, type CatalogModel } from '$lib/server/catalog';
import { activeKeysOf } from '$lib/server/keys';
import { getEffectiveLimits, type SourceLimits } from '$lib/server/limits';
import { PROVIDER_LABELS, type ProviderId } from '$lib/server/providers';
import { ownKeysOf, planRoute, usableKey, type UserKeyState } from './plan';
import { fallbackPreferences } from './preferences';

/** What the model selector shows: per model, which key would serve it right now, and its price. */
export interface ModelOption {
	id: string;
	provider: ProviderId;
	displayName: string;
	contextWindow: number;
	maxOutputTokens: number;
	/** Unix seconds the provider lists for it, or null. */
	created: number | null;
	/** Input modalities ('text', 'image', …). */
	input: readonly string[];
	/** Per million tokens, in micro-dollars; null: the price is not known (own key only). */
	price: { inputMicrosPerMTok: number; outputMicrosPerMTok: number; cachedInputMicrosPerMTok: number | null } | null;
	/** The key that would serve the next request; `unavailable` when none can. */
	keySource: KeySource | 'unavailable';
	servedBy: ProviderId | null;
	/** The user holds a usable key that can serve this model (own provider key or OpenRouter key). */
	userHasKey: boolean;
	/** Without the user's own key this model cannot be used (no app key, or fallback turned off). */
	requiresKey: boolean;
	allowFallback: boolean;
	/** A sentence for the selector when the choice bills the app or hits a limit. */
	warning: string | null;
}

export async function listModelsForUser(db: Kysely<Database>, config: Config, userId: string): Promise<ModelOption[]> {
	const [keys, preferences, limits] = await Promise.all([
		activeKeysOf(db, userId),
		fallbackPreferences(db, userId),
		getEffectiveLimits(db, config.limitDefaults, userId)
	]);
	const userKeys = ownKeysOf(keys);
	// Which (provider, key source) cannot take a request right now, and why.
	const blocked = new Map<string, 'day' | 'hour'>();
	for (const provider of limits.providers) {
		for (const source of [provider.own, provider.app]) {
			const reason = blockedBy(source);
			if (reason) blocked.set(`${provider.provider}:${source.keySource}`, reason);
		}
	}
	const hourResets = `${limits.hourResetsAt.toISOString().slice(11, 16)} UTC`;
	const appKeyConfigured = Boolean(config.appOpenRouterKey);

	const offered = offeredTo(userKeys, (provider) => preferences[provider] && appKeyConfigured);
	return byFlagshipFirst(listModels().filter(offered)).map((model) => {
		const allowFallback = preferences[model.provider];
		const plan = planRoute({ model, userKeys, allowFallback, appKeyConfigured });
		const reasonOf = (source: KeySource) => blocked.get(`${model.provider}:${source}`);
		const open = plan.attempts.filter((a) => !reasonOf(a.keySource));
		const next = open[0];
		const name = PROVIDER_LABELS[model.provider];
		const ownReason = reasonOf('user');
		const ownLimit =
			ownReason === 'hour'
				? `Your requests-per-hour limit for ${name} on your own key is reached until ${hourResets}`
				: `Your own-key cap for ${name} is reached today`;
		let warning: string | null = null;
		if (plan.attempts.length === 0) {
			warning =
				appKeyConfigured && !allowFallback ? `Needs your ${name} key (fallback is off).` : `Needs your ${name} key.`;
		} else if (!next) {
			const reason = reasonOf(plan.attempts[plan.attempts.length - 1]!.keySource);
			warning =
				reason === 'hour'
					? `Your requests-per-hour limit for ${name} is reached; it resets at ${hourResets}.`
					: `Today's spending cap for ${name} is reached; it resets at 00:00 UTC.`;
		} else if (next.keySource === 'app') {
			warning =
				open.length < plan.attempts.length && ownReason
					? `${ownLimit}; this will bill the app's key.`
					: "This will use the app's key, within your daily app allowance.";
		}
		return {
			id: model.id,
			provider: model.provider,
			displayName: model.displayName,
			contextWindow: model.contextWindow,
			maxOutputTokens: model.maxOutputTokens,
			created: model.created,
			input: model.input,
			price: model.price && {
				inputMicrosPerMTok: model.price.input,
				outputMicrosPerMTok: model.price.output,
				cachedInputMicrosPerMTok: model.price.cacheRead ?? null
			},
			keySource: next?.keySource ?? plan.attempts[0]?.keySource ?? 'unavailable',
			servedBy: next?.servedBy ?? null,
			userHasKey: plan.attempts.some((a) => a.keySource === 'user'),
			requiresKey: !(appKeyConfigured && allowFallback),
			allowFallback,
			warning
		};
	});
}

const SEED_RANK = new Map(MODELS.map((m, index) => [m.id, index]));
const SEED_IDS = new Set(SEED_RANK.keys());

/** The bundled flagships first, in their order (a new chat starts on one of them), then the rest by provider and name. */
function byFlagshipFirst(models: readonly Readonly<CatalogModel>[]): Readonly<CatalogModel>[] {
	const rank = (m: Readonly<CatalogModel>) => SEED_RANK.get(m.id) ?? SEED_RANK.size;
	return [...models].sort((a, b) => rank(a) - rank(b));
}

/**
 * Which models a user is offered: the flagship seed always (with what it needs), a provider's
 * models their key lists (all of them while its list is unknown), every model with an OpenRouter
 * twin when they hold an OpenRouter key, and what the app serves when they allow fallback.
 */
function offeredTo(
	userKeys: ReadonlyMap<ProviderId, readonly UserKeyState[]>,
	appServes: (provider: ProviderId) => boolean
) {
	const usable = (provider: ProviderId) => (userKeys.get(provider) ?? []).filter(usableKey);
	const ownOpenRouter = usable('openrouter').length > 0;
	return (model: Readonly<CatalogModel>): boolean => {
		if (SEED_IDS.has(model.id)) return true;
		const own = model.provider !== 'openrouter' ? usable(model.provider) : [];
		// Any of the provider's keys whose list has the model (or whose list is not known yet).
		if (own.some((key) => modelsOfKey(key.keyId)?.has(model.id) ?? true)) return true;
		if (model.openRouterId && ownOpenRouter) return true;
		return model.appServable && appServes(model.provider);
	};
}

/** A key source refuses new requests: its day's cap is spent, or this hour's requests or tokens. */
function blockedBy(source: SourceLimits): 'day' | 'hour' | undefined {
	if (source.paused) return 'day';
	if (source.used.requestsThisHour >= source.requestsPerHour) return 'hour';
	if (source.used.tokensThisHour >= source.tokensPerHour) return 'hour';
	return undefined;
}
