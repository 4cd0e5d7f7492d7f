import type { ProviderId } from '$lib/providers';
import type { ListedModel, OpenRouterPricing } from '$lib/server/providers';
import type { CatalogModel } from './models';
import type { ModelPrice } from './prices';
import {
	directPartOf,
	familyKey,
	likelyDirectId,
	patternMatches,
	publicIdOf,
	DIRECT_PROVIDERS,
	type DirectProvider
} from './ids';

/**
 * Builds the catalog from the lists the providers gave, in memory, off the request path. Pure:
 * the caller passes the lists, the price lookup and the admin's rules.
 *
 * - A direct model (OpenAI, Anthropic, Gemini) is known from the bundled seed, from any key's
 *   list, or, before any list of its provider is known, from OpenRouter's `<provider>/…` entry.
 * - Its OpenRouter twin (the app-key fallback) is the OpenRouter entry of the same family.
 * - Every other OpenRouter entry is `openrouter/<its id>`.
 */

export interface AppModelRule {
	effect: 'allow' | 'deny';
	pattern: string;
}

export type PriceOf = (
	provider: ProviderId,
	providerModel: string,
	openRouterPricing: OpenRouterPricing | undefined
) => ModelPrice | null;

export interface Limits {
	contextWindow: number;
	maxOutputTokens: number;
	input: string[];
	name: string | null;
}

export interface BuildInput {
	seed: readonly CatalogModel[];
	/** OpenRouter's list, or null before one was ever fetched. */
	openRouter: readonly ListedModel[] | null;
	/** Every distinct list the users' keys gave, by provider. */
	direct: ReadonlyMap<DirectProvider, readonly (readonly ListedModel[])[]>;
	priceOf: PriceOf;
	/** Limits from a maintained catalog for models whose list does not carry them. */
	limitsOf: (provider: ProviderId, providerModel: string) => Partial<Limits> | undefined;
	rules: readonly AppModelRule[];
}

export interface CatalogIndex {
	/** By public id, in display order (provider, then name). */
	models: ReadonlyMap<string, Readonly<CatalogModel>>;
	/** Other names of a model: today's ids, OpenRouter-style ids → its public id. */
	aliases: ReadonlyMap<string, string>;
	/** Which family each direct model belongs to, to place a key's list in the catalog. */
	byFamily: ReadonlyMap<string, string>;
}

const DEFAULT_CONTEXT = 128_000;
const DEFAULT_MAX_OUTPUT = 16_384;

/** Whether the admin's rules let the app key serve `publicId`: the first matching rule decides. */
export function appAllows(rules: readonly AppModelRule[], publicId: string): boolean {
	const rule = rules.find((r) => patternMatches(r.pattern, publicId));
	return rule ? rule.effect === 'allow' : true;
}

interface Draft {
	id: string;
	provider: ProviderId;
	providerModel: string;
	listed: ListedModel | undefined;
	seed: CatalogModel | undefined;
	twin: ListedModel | undefined;
}

export function buildCatalog(input: BuildInput): CatalogIndex {
	const drafts = new Map<string, Draft>();
	const aliases = new Map<string, string>();
	const familyKeyOf = (provider: ProviderId, model: string) => `${provider}/${familyKey(model)}`;

	for (const seed of input.seed) {
		const id = seed.id;
		drafts.set(id, {
			id,
			provider: seed.provider,
			providerModel: seed.providerModel,
			listed: undefined,
			seed,
			twin: undefined
		});
		const canonical = publicIdOf(seed.provider, seed.providerModel);
		if (canonical !== id) aliases.set(canonical, id);
	}
	const seedByProviderModel = new Map(input.seed.map((m) => [publicIdOf(m.provider, m.providerModel), m.id]));

	for (const provider of DIRECT_PROVIDERS) {
		for (const list of input.direct.get(provider) ?? []) {
			for (const listed of list) {
				if (!listed.chat) continue;
				const id = seedByProviderModel.get(publicIdOf(provider, listed.id)) ?? publicIdOf(provider, listed.id);
				const draft = drafts.get(id);
				if (draft) draft.listed ??= listed;
				else drafts.set(id, { id, provider, providerModel: listed.id, listed, seed: undefined, twin: undefined });
			}
		}
	}

	// Families of the direct models known so far; the preferred member is the undated id.
	const byFamily = new Map<string, string>();
	for (const draft of [...drafts.values()].sort((a, b) => a.providerModel.length - b.providerModel.length)) {
		if (draft.provider !== 'openrouter') {
			const key = familyKeyOf(draft.provider, draft.providerModel);
			if (!byFamily.has(key)) byFamily.set(key, draft.id);
		}
	}

	for (const entry of input.openRouter ?? []) {
		if (!entry.chat) continue;
		const direct = directPartOf(entry.id);
		if (!direct) {
			const id = publicIdOf('openrouter', entry.id);
			const seeded = drafts.get(id);
			if (seeded) seeded.listed = entry;
			else
				drafts.set(id, {
					id,
					provider: 'openrouter',
					providerModel: entry.id,
					listed: entry,
					seed: undefined,
					twin: entry
				});
			continue;
		}
		const key = familyKeyOf(direct.provider, direct.model);
		let targetId = byFamily.get(key);
		if (!targetId) {
			targetId = publicIdOf(direct.provider, likelyDirectId(direct.provider, direct.model));
			drafts.set(targetId, {
				id: targetId,
				provider: direct.provider,
				providerModel: likelyDirectId(direct.provider, direct.model),
				listed: undefined,
				seed: undefined,
				twin: undefined
			});
			byFamily.set(key, targetId);
		}
		aliases.set(`openrouter/${entry.id}`, targetId);
		if (entry.id !== targetId) aliases.set(entry.id, targetId);
		// Every member of the family falls back to it; an exact id match wins over a family match.
		for (const draft of drafts.values()) {
			if (draft.provider !== direct.provider || familyKeyOf(draft.provider, draft.providerModel) !== key) continue;
			const exact = draft.providerModel === direct.model;
			if (!draft.twin || exact) draft.twin = entry;
		}
	}

	const models = [...drafts.values()].map((draft) => finish(draft, input)).filter((m) => m !== undefined);
	models.sort((a, b) => a.provider.localeCompare(b.provider) || a.displayName.localeCompare(b.displayName));
	for (const alias of [...aliases.keys()]) if (drafts.has(alias)) aliases.delete(alias);
	return { models: new Map(models.map((m) => [m.id, m])), aliases, byFamily };
}

function finish(draft: Draft, input: BuildInput): Readonly<CatalogModel> | undefined {
	const { seed, listed, twin } = draft;
	const known = input.limitsOf(draft.provider, draft.providerModel) ?? {};
	// OpenRouter's own models carry OpenRouter's listed price; direct models the library's.
	const price =
		input.priceOf(draft.provider, draft.providerModel, draft.provider === 'openrouter' ? listed?.pricing : undefined) ??
		seed?.price ??
		null;
	// A model with no price is offered only on the user's own key (see catalog/README in docs).
	const openRouterId = seed?.openRouterId ?? twin?.id ?? null;
	const contextWindow =
		listed?.contextWindow ?? twin?.contextWindow ?? known.contextWindow ?? seed?.contextWindow ?? DEFAULT_CONTEXT;
	const maxOutputTokens = Math.min(
		contextWindow,
		listed?.maxOutputTokens ??
			twin?.maxOutputTokens ??
			known.maxOutputTokens ??
			seed?.maxOutputTokens ??
			DEFAULT_MAX_OUTPUT
	);
	const displayName = seed?.displayName ?? listed?.name ?? known.name ?? twin?.name ?? draft.providerModel;
	const model: CatalogModel = {
		id: draft.id,
		provider: draft.provider,
		providerModel: draft.providerModel,
		displayName: draft.provider === 'openrouter' || seed ? displayName : displayName.replace(/^[^:]+:\s*/, ''),
		contextWindow,
		maxOutputTokens,
		input: listed?.input ?? twin?.input ?? known.input ?? seed?.input ?? ['text'],
		created: listed?.created ?? twin?.created ?? null,
		openRouterId,
		price,
		appServable: openRouterId !== null && price !== null && appAllows(input.rules, draft.id)
	};
	return Object.freeze(model);
}
