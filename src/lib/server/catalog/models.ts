import { isProviderId, type ProviderId } from '$lib/providers';
import { lookupPrice, type ModelPrice } from './prices';

/**
 * The bundled seed: the flagship models a fresh install offers before any provider list has been
 * read (offline, or before the first refresh). The live lists add every other model. Prices are
 * not typed here: they come from the pinned `@pydantic/genai-prices` (see prices.ts).
 */
export interface CatalogModel {
	/** Public id, `provider/model`: what users and the OpenAI-compatible API name. */
	id: string;
	provider: ProviderId;
	/** The id the provider's own API takes. */
	providerModel: string;
	displayName: string;
	contextWindow: number;
	maxOutputTokens: number;
	/** Input modalities ('text', 'image', …): images only where it has vision (the API refuses them elsewhere). */
	input: readonly string[];
	/** Unix seconds the provider lists for it, when it does. */
	created: number | null;
	/** Null: no known price; such a model is served only on the user's own key. */
	price: ModelPrice | null;
	/** The same model on OpenRouter, for the app-key fallback; null: no fallback. */
	openRouterId: string | null;
	/** The app key may serve it: it has an OpenRouter twin, a known price and the admin allows it. */
	appServable: boolean;
}

export type ModelInput = 'text' | 'image';

type Row = [
	id: string,
	providerModel: string,
	displayName: string,
	contextWindow: number,
	maxOutputTokens: number,
	openRouterId: string,
	input: readonly ModelInput[]
];

// What each model takes in, from its provider's model documentation (read 2026-11).
const TEXT: readonly ModelInput[] = Object.freeze(['text']);
const VISION: readonly ModelInput[] = Object.freeze(['text', 'image']);

// prettier-ignore
const ROWS: readonly Row[] = [
	//  public id, provider model id, display name, context, max output, OpenRouter id, input
	['openai/gpt-4o-mini', 'gpt-4o-mini', 'GPT-4o mini', 128_000, 16_384, 'openai/gpt-4o-mini', VISION],
	['openai/gpt-4o', 'gpt-4o', 'GPT-4o', 128_000, 16_384, 'openai/gpt-4o', VISION],
	['openai/gpt-4.1-mini', 'gpt-4.1-mini', 'GPT-4.1 mini', 1_047_576, 32_768, 'openai/gpt-4.1-mini', VISION],
	['anthropic/claude-sonnet-4', 'claude-sonnet-4-20250514', 'Claude Sonnet 4', 200_000, 64_000, 'anthropic/claude-sonnet-4', VISION],
	['anthropic/claude-sonnet-4.5', 'claude-sonnet-4-5', 'Claude Sonnet 4.5', 200_000, 64_000, 'anthropic/claude-sonnet-4.5', VISION],
	['anthropic/claude-haiku-4.5', 'claude-haiku-4-5', 'Claude Haiku 4.5', 200_000, 64_000, 'anthropic/claude-haiku-4.5', VISION],
	['google/gemini-2.0-flash', 'gemini-2.0-flash', 'Gemini 2.0 Flash', 1_048_576, 8_192, 'google/gemini-2.0-flash-001', VISION],
	['google/gemini-2.5-flash', 'gemini-2.5-flash', 'Gemini 2.5 Flash', 1_048_576, 65_535, 'google/gemini-2.5-flash', VISION],
	['google/gemini-2.5-pro', 'gemini-2.5-pro', 'Gemini 2.5 Pro', 1_048_576, 65_535, 'google/gemini-2.5-pro', VISION],
	['openrouter/meta-llama/llama-3.3-70b-instruct', 'meta-llama/llama-3.3-70b-instruct', 'Llama 3.3 70B Instruct', 131_072, 16_384, 'meta-llama/llama-3.3-70b-instruct', TEXT],
];

function providerOf(id: string): ProviderId {
	const prefix = id.slice(0, id.indexOf('/'));
	if (isProviderId(prefix)) return prefix;
	throw new Error(`catalog row ${id} has no known provider prefix`);
}

export const MODELS: readonly Readonly<CatalogModel>[] = ROWS.map(
	([id, providerModel, displayName, contextWindow, maxOutputTokens, openRouterId, input]) =>
		Object.freeze({
			id,
			provider: providerOf(id),
			providerModel,
			displayName,
			contextWindow,
			maxOutputTokens,
			input,
			created: null,
			price: lookupPrice(providerOf(id), providerModel),
			openRouterId,
			appServable: true
		})
);
