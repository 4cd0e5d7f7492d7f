import { isProviderId, type ProviderId } from '$lib/providers';

/**
 * The models Latchkey serves, with their limits and prices.
 *
 * Prices are integer micro-dollars per MILLION tokens (USD per token × 1e12), so that a cost is
 * one exact integer product and a single rounded-up division. Source of the figures below:
 */
export const PRICE_SOURCE = {
	source: "LiteLLM's model_prices_and_context_window.json (input_cost_per_token, output_cost_per_token)",
	readOn: '2026-11',
	/** The OpenRouter-only Llama model: OpenRouter's /api/v1/models pricing, read on the same date. */
	openRouterOnlySource: 'OpenRouter /api/v1/models pricing.prompt / pricing.completion'
} as const;

export interface CatalogModel {
	/** Public id, `provider/model`: what users and the OpenAI-compatible API name. */
	id: string;
	provider: ProviderId;
	/** The id the provider's own API takes. */
	providerModel: string;
	displayName: string;
	contextWindow: number;
	maxOutputTokens: number;
	/** Integer micro-dollars per million prompt tokens. */
	inputMicrosPerMTok: number;
	/** Integer micro-dollars per million completion tokens. */
	outputMicrosPerMTok: number;
	/** The same model on OpenRouter, for the app-key fallback. */
	openRouterId: string;
	/** What the model takes in: images only where it has vision (the API refuses them elsewhere). */
	input: readonly ModelInput[];
}

export type ModelInput = 'text' | 'image';

type Row = [
	id: string,
	providerModel: string,
	displayName: string,
	contextWindow: number,
	maxOutputTokens: number,
	inputMicrosPerMTok: number,
	outputMicrosPerMTok: number,
	openRouterId: string,
	input: readonly ModelInput[]
];

// What each model takes in, from its provider's model documentation (read 2026-11).
const TEXT: readonly ModelInput[] = Object.freeze(['text']);
const VISION: readonly ModelInput[] = Object.freeze(['text', 'image']);

// prettier-ignore
const ROWS: readonly Row[] = [
	//  public id                                      provider model id                     display name          context    max out  in µ$/Mtok   out µ$/Mtok  OpenRouter id  input
	['openai/gpt-4o-mini',                            'gpt-4o-mini',                        'GPT-4o mini',           128_000,  16_384,    150_000,     600_000, 'openai/gpt-4o-mini', VISION],
	['openai/gpt-4o',                                 'gpt-4o',                             'GPT-4o',                128_000,  16_384,  2_500_000,  10_000_000, 'openai/gpt-4o', VISION],
	['openai/gpt-4.1-mini',                           'gpt-4.1-mini',                       'GPT-4.1 mini',        1_047_576,  32_768,    400_000,   1_600_000, 'openai/gpt-4.1-mini', VISION],
	['anthropic/claude-sonnet-4',                     'claude-sonnet-4-20250514',           'Claude Sonnet 4',       200_000,  64_000,  3_000_000,  15_000_000, 'anthropic/claude-sonnet-4', VISION],
	['anthropic/claude-sonnet-4.5',                   'claude-sonnet-4-5',                  'Claude Sonnet 4.5',     200_000,  64_000,  3_000_000,  15_000_000, 'anthropic/claude-sonnet-4.5', VISION],
	['anthropic/claude-haiku-4.5',                    'claude-haiku-4-5',                   'Claude Haiku 4.5',      200_000,  64_000,  1_000_000,   5_000_000, 'anthropic/claude-haiku-4.5', VISION],
	['google/gemini-2.0-flash',                       'gemini-2.0-flash',                   'Gemini 2.0 Flash',    1_048_576,   8_192,    100_000,     400_000, 'google/gemini-2.0-flash-001', VISION],
	['google/gemini-2.5-flash',                       'gemini-2.5-flash',                   'Gemini 2.5 Flash',    1_048_576,  65_535,    300_000,   2_500_000, 'google/gemini-2.5-flash', VISION],
	['google/gemini-2.5-pro',                         'gemini-2.5-pro',                     'Gemini 2.5 Pro',      1_048_576,  65_535,  1_250_000,  10_000_000, 'google/gemini-2.5-pro', VISION],
	['openrouter/meta-llama/llama-3.3-70b-instruct',  'meta-llama/llama-3.3-70b-instruct',  'Llama 3.3 70B Instruct', 131_072, 16_384,    130_000,     400_000, 'meta-llama/llama-3.3-70b-instruct', TEXT]
];

function providerOf(id: string): ProviderId {
	const prefix = id.slice(0, id.indexOf('/'));
	if (isProviderId(prefix)) return prefix;
	throw new Error(`catalog row ${id} has no known provider prefix`);
}

export const MODELS: readonly Readonly<CatalogModel>[] = ROWS.map(
	([id, providerModel, displayName, contextWindow, maxOutputTokens, inputMicros, outputMicros, openRouterId, input]) =>
		Object.freeze({
			id,
			provider: providerOf(id),
			providerModel,
			displayName,
			contextWindow,
			maxOutputTokens,
			inputMicrosPerMTok: inputMicros,
			outputMicrosPerMTok: outputMicros,
			openRouterId,
			input
		})
);
