import type { ProviderId } from '$lib/providers';

/**
 * How the same model is named across lists. OpenRouter names direct models `openai/gpt-4o`,
 * `anthropic/claude-sonnet-4.5`, `google/gemini-2.0-flash-001`; the providers name them `gpt-4o`
 * (and dated `gpt-4o-2024-08-06`), `claude-sonnet-4-5-20250929`, `gemini-2.0-flash`. A model's
 * family key drops what differs: case, dots between digits, a date or `-001` suffix, `-latest`.
 */
export function familyKey(modelId: string): string {
	return modelId
		.toLowerCase()
		.replace(/(\d)\.(\d)/g, '$1-$2')
		.replace(/-(\d{8}|\d{4}-\d{2}-\d{2})$/, '')
		.replace(/-(\d{3}|latest)$/, '');
}

/** A direct provider whose models OpenRouter also serves, under `<provider>/…`. */
export const DIRECT_PROVIDERS = ['openai', 'anthropic', 'google'] as const satisfies readonly ProviderId[];
export type DirectProvider = (typeof DIRECT_PROVIDERS)[number];

export function isDirectProvider(value: string): value is DirectProvider {
	return (DIRECT_PROVIDERS as readonly string[]).includes(value);
}

/**
 * An OpenRouter id of a direct provider's model, split: `anthropic/claude-sonnet-4.5` is
 * Anthropic's `claude-sonnet-4.5` family. Variants (`:free`, `:thinking`) are OpenRouter's own
 * offers, not twins of the direct model.
 */
export function directPartOf(openRouterId: string): { provider: DirectProvider; model: string } | undefined {
	const slash = openRouterId.indexOf('/');
	if (slash < 0 || openRouterId.includes(':')) return undefined;
	const provider = openRouterId.slice(0, slash);
	const model = openRouterId.slice(slash + 1);
	return isDirectProvider(provider) && model.length > 0 ? { provider, model } : undefined;
}

/**
 * The id the provider itself most likely uses for an OpenRouter-named model, when no list of the
 * provider's has named it yet: Anthropic writes versions with dashes (`claude-sonnet-4-5`).
 */
export function likelyDirectId(provider: DirectProvider, openRouterModel: string): string {
	return provider === 'anthropic' ? openRouterModel.replace(/(\d)\.(\d)/g, '$1-$2') : openRouterModel;
}

/** The public id of a model: `<provider>/<the provider's own id>`. */
export function publicIdOf(provider: ProviderId, providerModel: string): string {
	return `${provider}/${providerModel}`;
}

/** A dated snapshot sorts after its undated name, and a later date after an earlier one. */
export function newerFirst(a: string, b: string): number {
	return b.localeCompare(a);
}

/** `*` matches any run of characters; everything else literally. Case-insensitive. */
export function patternMatches(pattern: string, modelId: string): boolean {
	const escaped = pattern
		.toLowerCase()
		.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
		.replace(/\*/g, '.*');
	return new RegExp(`^${escaped}$`).test(modelId.toLowerCase());
}
