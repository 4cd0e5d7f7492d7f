// Models each fake serves, and their prices.
//
// Prices: USD per token from LiteLLM's model_prices_and_context_window.json, read 2026-11
// (see /work/shared/design/PROVIDERS.md). Stored as integer micro-dollars per million tokens
// so that cost sums are exact integers until the single final division.
import type { ProviderName } from './types';

export interface FakePrice {
	/** Integer micro-USD per million prompt tokens (= USD per token × 1e12). */
	promptMicroUsdPerMTok: number;
	/** Integer micro-USD per million completion tokens. */
	completionMicroUsdPerMTok: number;
	/** USD per prompt token (derived). */
	prompt: number;
	/** USD per completion token (derived). */
	completion: number;
}

export interface FakeModel {
	provider: ProviderName;
	id: string;
	displayName: string;
	contextLength: number;
	price: FakePrice;
}

function price(promptMicroUsdPerMTok: number, completionMicroUsdPerMTok: number): FakePrice {
	return {
		promptMicroUsdPerMTok,
		completionMicroUsdPerMTok,
		prompt: promptMicroUsdPerMTok / 1e12,
		completion: completionMicroUsdPerMTok / 1e12
	};
}

const GPT_4O = price(2_500_000, 10_000_000);
const GPT_4O_MINI = price(150_000, 600_000);
const GPT_41_MINI = price(400_000, 1_600_000);
const CLAUDE_SONNET = price(3_000_000, 15_000_000);
const CLAUDE_HAIKU_45 = price(1_000_000, 5_000_000);
const GEMINI_20_FLASH = price(100_000, 400_000);
const GEMINI_25_FLASH = price(300_000, 2_500_000);
const GEMINI_25_PRO = price(1_250_000, 10_000_000);
const LLAMA_33_70B = price(130_000, 400_000);

function model(
	provider: ProviderName,
	id: string,
	displayName: string,
	contextLength: number,
	modelPrice: FakePrice
): FakeModel {
	return { provider, id, displayName, contextLength, price: modelPrice };
}

export const FAKE_MODELS: Readonly<Record<ProviderName, readonly FakeModel[]>> = {
	openai: [
		model('openai', 'gpt-4o', 'GPT-4o', 128_000, GPT_4O),
		model('openai', 'gpt-4o-mini', 'GPT-4o mini', 128_000, GPT_4O_MINI),
		model('openai', 'gpt-4.1-mini', 'GPT-4.1 mini', 1_047_576, GPT_41_MINI)
	],
	anthropic: [
		model('anthropic', 'claude-sonnet-4', 'Claude Sonnet 4', 200_000, CLAUDE_SONNET),
		model('anthropic', 'claude-sonnet-4-5', 'Claude Sonnet 4.5', 200_000, CLAUDE_SONNET),
		model('anthropic', 'claude-haiku-4-5', 'Claude Haiku 4.5', 200_000, CLAUDE_HAIKU_45)
	],
	google: [
		model('google', 'gemini-2.0-flash', 'Gemini 2.0 Flash', 1_048_576, GEMINI_20_FLASH),
		model('google', 'gemini-2.5-flash', 'Gemini 2.5 Flash', 1_048_576, GEMINI_25_FLASH),
		model('google', 'gemini-2.5-pro', 'Gemini 2.5 Pro', 1_048_576, GEMINI_25_PRO)
	],
	openrouter: [
		model('openrouter', 'openai/gpt-4o', 'OpenAI: GPT-4o', 128_000, GPT_4O),
		model('openrouter', 'openai/gpt-4o-mini', 'OpenAI: GPT-4o-mini', 128_000, GPT_4O_MINI),
		model('openrouter', 'openai/gpt-4.1-mini', 'OpenAI: GPT-4.1 Mini', 1_047_576, GPT_41_MINI),
		model('openrouter', 'anthropic/claude-sonnet-4', 'Anthropic: Claude Sonnet 4', 200_000, CLAUDE_SONNET),
		model('openrouter', 'anthropic/claude-sonnet-4.5', 'Anthropic: Claude Sonnet 4.5', 200_000, CLAUDE_SONNET),
		model('openrouter', 'anthropic/claude-haiku-4.5', 'Anthropic: Claude Haiku 4.5', 200_000, CLAUDE_HAIKU_45),
		model('openrouter', 'google/gemini-2.0-flash-001', 'Google: Gemini 2.0 Flash', 1_048_576, GEMINI_20_FLASH),
		model('openrouter', 'google/gemini-2.5-flash', 'Google: Gemini 2.5 Flash', 1_048_576, GEMINI_25_FLASH),
		model('openrouter', 'google/gemini-2.5-pro', 'Google: Gemini 2.5 Pro', 1_048_576, GEMINI_25_PRO),
		model('openrouter', 'meta-llama/llama-3.3-70b-instruct', 'Meta: Llama 3.3 70B Instruct', 131_072, LLAMA_33_70B)
	]
};

/** Prices by model id, for direct-provider ids ('gpt-4o') and OpenRouter ids ('openai/gpt-4o') alike. */
export const FAKE_PRICES: Readonly<Record<string, FakePrice>> = Object.fromEntries(
	Object.values(FAKE_MODELS)
		.flat()
		.map((m) => [m.id, m.price])
);

/** The price of a model id listed in FAKE_PRICES; throws for others. */
export function fakePriceOf(modelId: string): FakePrice {
	const found = FAKE_PRICES[modelId];
	if (!found) throw new Error(`no fake price for model ${modelId}`);
	return found;
}

/** Cost in USD as the OpenRouter fake reports it in `usage.cost`. */
export function fakeCostUsd(modelId: string, promptTokens: number, completionTokens: number): number {
	return costUsd(fakePriceOf(modelId), promptTokens, completionTokens);
}

/** Exact integer arithmetic, one division at the end: the same inputs always give the same float. */
export function costUsd(modelPrice: FakePrice, promptTokens: number, completionTokens: number): number {
	const microUsdTimesMillion =
		promptTokens * modelPrice.promptMicroUsdPerMTok + completionTokens * modelPrice.completionMicroUsdPerMTok;
	return microUsdTimesMillion / 1e12;
}

/** USD per token as a plain decimal string ('0.00000015', never '1.5e-7'), as OpenRouter lists it. */
export function usdPerTokenString(microUsdPerMTok: number): string {
	const digits = String(Math.round(microUsdPerMTok)).padStart(13, '0');
	const decimal = `${digits.slice(0, -12)}.${digits.slice(-12)}`;
	return decimal.replace(/0+$/, '').replace(/\.$/, '');
}

/**
 * Whether a fake knows a model: a listed id, or a listed id followed by a suffix the real
 * providers use for snapshots and variants ('claude-sonnet-4-20250514', 'gpt-4o-2024-08-06',
 * 'gemini-2.5-flash-001', 'openai/gpt-4o:free').
 */
export function findFakeModel(provider: ProviderName, modelId: string): FakeModel | undefined {
	const separator = provider === 'openrouter' ? ':' : '-';
	const models = FAKE_MODELS[provider];
	const exact = models.find((m) => m.id === modelId);
	if (exact) return exact;
	// Longest prefix wins: 'gpt-4o-mini-2024-07-18' is gpt-4o-mini, not gpt-4o.
	const prefixed = models.filter((m) => modelId.startsWith(m.id + separator) && modelId.length > m.id.length + 1);
	return prefixed.sort((a, b) => b.id.length - a.id.length)[0];
}
