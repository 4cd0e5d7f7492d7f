import { createHash } from 'node:crypto';
import type { ProviderId } from '$lib/providers';
import type { ListedModel } from '$lib/server/providers';
import { buildCatalog, type AppModelRule, type CatalogIndex } from './build';
import { isDirectProvider, publicIdOf, type DirectProvider } from './ids';
import { knownLimitsOf } from './known-limits';
import { MODELS, type CatalogModel } from './models';
import { resolvePrice, type PriceOverrides } from './prices';
import type { StoredList } from './store';

/**
 * The catalog this process serves from, in memory: the chat path reads it and never waits for a
 * provider or the database. Rebuilt (a few milliseconds) whenever a list or a rule changes.
 * Lists are interned by content: ten thousand OpenAI keys with the same list hold it once.
 */

interface KeyList {
	provider: ProviderId;
	hash: string;
}

const lists = new Map<string, readonly ListedModel[]>();
const keyLists = new Map<string, KeyList>();
let openRouter: readonly ListedModel[] | null = null;
let rules: readonly AppModelRule[] = [];
let overrides: PriceOverrides = new Map();
let index: CatalogIndex = build();

function intern(models: readonly ListedModel[]): string {
	const hash = createHash('sha256').update(JSON.stringify(models)).digest('base64url');
	if (!lists.has(hash)) lists.set(hash, Object.freeze([...models]));
	return hash;
}

function build(): CatalogIndex {
	const direct = new Map<DirectProvider, (readonly ListedModel[])[]>();
	const seen = new Set<string>();
	for (const { provider, hash } of keyLists.values()) {
		const list = lists.get(hash);
		if (!list || !isDirectProvider(provider) || seen.has(hash)) continue;
		seen.add(hash);
		direct.set(provider, [...(direct.get(provider) ?? []), list]);
	}
	// Lists no key refers to any more are dropped.
	for (const hash of lists.keys()) if (!seen.has(hash)) lists.delete(hash);
	return buildCatalog({
		seed: MODELS,
		openRouter,
		direct,
		priceOf: (provider, providerModel, openRouterPricing) =>
			resolvePrice({ provider, providerModel, ...(openRouterPricing ? { openRouterPricing } : {}) }, overrides),
		limitsOf: knownLimitsOf,
		rules
	});
}

function rebuild(): void {
	index = build();
}

/** Replaces everything from the database's lists and rules (start-up, or another instance changed them). */
export function applyStoredCatalog(
	stored: readonly StoredList[],
	storedRules: readonly AppModelRule[],
	storedOverrides: PriceOverrides
): void {
	overrides = storedOverrides;
	keyLists.clear();
	openRouter = null;
	for (const list of stored) {
		if (list.keyId === null) {
			if (list.provider === 'openrouter') openRouter = list.models;
		} else keyLists.set(list.keyId, { provider: list.provider, hash: intern(list.models) });
	}
	rules = [...storedRules];
	rebuild();
}

/** Lists stored since the last load (by this or another instance), merged in. */
export function applyChangedLists(changed: readonly StoredList[]): void {
	let touched = false;
	for (const list of changed) {
		if (list.keyId === null) {
			if (list.provider === 'openrouter') openRouter = list.models;
			touched = true;
			continue;
		}
		const hash = intern(list.models);
		if (keyLists.get(list.keyId)?.hash === hash) continue;
		keyLists.set(list.keyId, { provider: list.provider, hash });
		touched = true;
	}
	if (touched) rebuild();
}

/** A key's fresh list (its check just read it): served by this process at once. */
export function learnKeyList(keyId: string, provider: ProviderId, models: readonly ListedModel[]): void {
	const hash = intern(models);
	if (keyLists.get(keyId)?.hash === hash) return;
	keyLists.set(keyId, { provider, hash });
	rebuild();
}

export function learnOpenRouterList(models: readonly ListedModel[]): void {
	openRouter = models;
	rebuild();
}

export function learnAppModelRules(next: readonly AppModelRule[]): void {
	rules = [...next];
	rebuild();
}

export function learnPriceOverrides(next: PriceOverrides): void {
	overrides = next;
	rebuild();
}

export function appModelRules(): readonly AppModelRule[] {
	return rules;
}

/** The model with this public id or one of its other names (today's ids, OpenRouter-style ids). */
export function getModel(id: string): Readonly<CatalogModel> | undefined {
	const models = index.models;
	return models.get(id) ?? models.get(index.aliases.get(id) ?? '');
}

/** Every chat model the catalog knows, grouped by provider, by name. */
export function listModels(): readonly Readonly<CatalogModel>[] {
	return [...index.models.values()];
}

/**
 * The public ids of the models a key's list names, or undefined when its list is not known yet
 * (the key was stored before lists existed, or its provider did not answer).
 */
export function modelsOfKey(keyId: string): ReadonlySet<string> | undefined {
	const entry = keyLists.get(keyId);
	const list = entry && lists.get(entry.hash);
	if (!entry || !list) return undefined;
	const ids = new Set<string>();
	for (const listed of list) {
		if (!listed.chat) continue;
		const model = getModel(publicIdOf(entry.provider, listed.id));
		if (model) ids.add(model.id);
	}
	return ids;
}

/** Whether OpenRouter's list has been read at least once (else only the seed's twins are known). */
export function hasOpenRouterList(): boolean {
	return openRouter !== null;
}
