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
	/** Listed, but not a chat model (embeddings, speech, images, moderation). */
	notChat?: boolean;
	/** OpenRouter lists no price for it ("-1"). */
	priceUnlisted?: boolean;
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

// The rest of each provider's list, as the real lists look (2026): dated snapshots, older and
// newer models, and models that are not for chat. Listed and answered like the ones above.
const LISTED: Readonly<Record<ProviderName, readonly [string, string, number, number, number, boolean?][]>> = {
	openai: [
		['gpt-4o-2024-08-06', 'GPT-4o (2024-08-06)', 128_000, 2_500_000, 10_000_000],
		['gpt-4o-2024-11-20', 'GPT-4o (2024-11-20)', 128_000, 2_500_000, 10_000_000],
		['gpt-4o-mini-2024-07-18', 'GPT-4o mini (2024-07-18)', 128_000, 150_000, 600_000],
		['gpt-4.1', 'GPT-4.1', 1_047_576, 2_000_000, 8_000_000],
		['gpt-4.1-2025-04-14', 'GPT-4.1 (2025-04-14)', 1_047_576, 2_000_000, 8_000_000],
		['gpt-4.1-mini-2025-04-14', 'GPT-4.1 mini (2025-04-14)', 1_047_576, 400_000, 1_600_000],
		['gpt-5', 'GPT-5', 400_000, 1_250_000, 10_000_000],
		['gpt-5-mini', 'GPT-5 mini', 400_000, 250_000, 2_000_000],
		['gpt-5-nano', 'GPT-5 nano', 400_000, 50_000, 400_000],
		['o3', 'o3', 200_000, 2_000_000, 8_000_000],
		['o3-mini', 'o3-mini', 200_000, 1_100_000, 4_400_000],
		['o4-mini', 'o4-mini', 200_000, 1_100_000, 4_400_000],
		['gpt-3.5-turbo', 'GPT-3.5 Turbo', 16_385, 500_000, 1_500_000],
		['text-embedding-3-small', 'Embedding 3 small', 8_191, 20_000, 0, true],
		['text-embedding-3-large', 'Embedding 3 large', 8_191, 130_000, 0, true],
		['whisper-1', 'Whisper', 0, 0, 0, true],
		['tts-1', 'TTS 1', 0, 0, 0, true],
		['dall-e-3', 'DALL·E 3', 0, 0, 0, true],
		['gpt-image-1', 'GPT Image 1', 0, 0, 0, true],
		['omni-moderation-latest', 'Moderation', 0, 0, 0, true],
		['gpt-4o-realtime-preview', 'GPT-4o Realtime', 128_000, 5_000_000, 20_000_000, true]
	],
	anthropic: [
		['claude-sonnet-4-20250514', 'Claude Sonnet 4', 200_000, 3_000_000, 15_000_000],
		['claude-sonnet-4-5-20250929', 'Claude Sonnet 4.5', 200_000, 3_000_000, 15_000_000],
		['claude-haiku-4-5-20251001', 'Claude Haiku 4.5', 200_000, 1_000_000, 5_000_000],
		['claude-opus-4-1-20250805', 'Claude Opus 4.1', 200_000, 15_000_000, 75_000_000],
		['claude-opus-4-20250514', 'Claude Opus 4', 200_000, 15_000_000, 75_000_000],
		['claude-3-7-sonnet-20250219', 'Claude Sonnet 3.7', 200_000, 3_000_000, 15_000_000],
		['claude-3-5-haiku-20241022', 'Claude Haiku 3.5', 200_000, 800_000, 4_000_000],
		['claude-3-haiku-20240307', 'Claude Haiku 3', 200_000, 250_000, 1_250_000]
	],
	google: [
		['gemini-2.0-flash-001', 'Gemini 2.0 Flash 001', 1_048_576, 100_000, 400_000],
		['gemini-2.0-flash-lite', 'Gemini 2.0 Flash-Lite', 1_048_576, 75_000, 300_000],
		['gemini-2.5-flash-lite', 'Gemini 2.5 Flash-Lite', 1_048_576, 100_000, 400_000],
		['gemini-1.5-pro', 'Gemini 1.5 Pro', 2_097_152, 1_250_000, 5_000_000],
		['gemini-1.5-flash', 'Gemini 1.5 Flash', 1_048_576, 75_000, 300_000],
		['text-embedding-004', 'Text Embedding 004', 2_048, 0, 0, true],
		['gemini-embedding-001', 'Gemini Embedding 001', 2_048, 0, 0, true],
		['imagen-4.0-generate-001', 'Imagen 4', 480, 0, 0, true]
	],
	openrouter: [
		['openai/gpt-4.1', 'OpenAI: GPT-4.1', 1_047_576, 2_000_000, 8_000_000],
		['openai/gpt-5', 'OpenAI: GPT-5', 400_000, 1_250_000, 10_000_000],
		['openai/gpt-5-mini', 'OpenAI: GPT-5 Mini', 400_000, 250_000, 2_000_000],
		['openai/o3', 'OpenAI: o3', 200_000, 2_000_000, 8_000_000],
		['openai/o4-mini', 'OpenAI: o4 Mini', 200_000, 1_100_000, 4_400_000],
		['anthropic/claude-opus-4.1', 'Anthropic: Claude Opus 4.1', 200_000, 15_000_000, 75_000_000],
		['anthropic/claude-3.7-sonnet', 'Anthropic: Claude 3.7 Sonnet', 200_000, 3_000_000, 15_000_000],
		['anthropic/claude-3.7-sonnet:thinking', 'Anthropic: Claude 3.7 Sonnet (thinking)', 200_000, 3_000_000, 15_000_000],
		['anthropic/claude-3.5-haiku', 'Anthropic: Claude 3.5 Haiku', 200_000, 800_000, 4_000_000],
		['google/gemini-2.5-flash-lite', 'Google: Gemini 2.5 Flash Lite', 1_048_576, 100_000, 400_000],
		['deepseek/deepseek-chat-v3.1', 'DeepSeek: DeepSeek V3.1', 163_840, 200_000, 800_000],
		['deepseek/deepseek-r1-0528', 'DeepSeek: R1 0528', 163_840, 500_000, 2_150_000],
		['mistralai/mistral-medium-3.1', 'Mistral: Mistral Medium 3.1', 131_072, 400_000, 2_000_000],
		['mistralai/mistral-nemo', 'Mistral: Mistral Nemo', 131_072, 20_000, 40_000],
		['qwen/qwen3-235b-a22b-2507', 'Qwen: Qwen3 235B A22B Instruct 2507', 262_144, 130_000, 600_000],
		['x-ai/grok-4', 'xAI: Grok 4', 256_000, 3_000_000, 15_000_000],
		['x-ai/grok-3-mini', 'xAI: Grok 3 Mini', 131_072, 300_000, 500_000],
		['meta-llama/llama-4-maverick', 'Meta: Llama 4 Maverick', 1_048_576, 150_000, 600_000],
		['meta-llama/llama-3.1-8b-instruct', 'Meta: Llama 3.1 8B Instruct', 131_072, 20_000, 30_000],
		['moonshotai/kimi-k2', 'MoonshotAI: Kimi K2', 131_072, 140_000, 2_490_000],
		['z-ai/glm-4.5', 'Z.AI: GLM 4.5', 131_072, 350_000, 1_550_000],
		['openrouter/auto', 'Auto Router', 2_000_000, 0, 0]
	]
};

for (const [provider, rows] of Object.entries(LISTED) as [ProviderName, (typeof LISTED)[ProviderName]][]) {
	const models = FAKE_MODELS[provider] as FakeModel[];
	for (const [id, displayName, contextLength, inMicros, outMicros, notChat] of rows) {
		const entry = model(provider, id, displayName, contextLength, price(inMicros, outMicros));
		models.push({
			...entry,
			...(notChat ? { notChat } : {}),
			...(id === 'openrouter/auto' ? { priceUnlisted: true } : {})
		});
	}
}

/** Models added while a fake runs ("a model that appears between two refreshes"). */
const ADDED: Record<ProviderName, FakeModel[]> = { openai: [], anthropic: [], google: [], openrouter: [] };

/** Lists `model` from now on, as if the provider had just released it. */
export function addFakeModel(added: FakeModel): void {
	ADDED[added.provider] = [...ADDED[added.provider].filter((m) => m.id !== added.id), added];
}

export function clearAddedFakeModels(): void {
	for (const provider of Object.keys(ADDED) as ProviderName[]) ADDED[provider] = [];
}

/** Everything a provider's fake lists now. */
export function fakeModelsOf(provider: ProviderName): readonly FakeModel[] {
	return [...FAKE_MODELS[provider], ...ADDED[provider]];
}

/** A model a test adds: an id, a name, a price per million tokens. */
export function fakeModel(
	provider: ProviderName,
	id: string,
	displayName: string,
	contextLength: number,
	inMicrosPerMTok: number,
	outMicrosPerMTok: number
): FakeModel {
	return model(provider, id, displayName, contextLength, price(inMicrosPerMTok, outMicrosPerMTok));
}

/** Prices by model id, for direct-provider ids ('gpt-4o') and OpenRouter ids ('openai/gpt-4o') alike. */
export const FAKE_PRICES: Readonly<Record<string, FakePrice>> = Object.fromEntries(
	Object.values(FAKE_MODELS)
		.flat()
		.map((m) => [m.id, m.price])
);

/** The price of a model a fake lists now (added ones included). */
function livePriceOf(modelId: string): FakePrice | undefined {
	return (
		FAKE_PRICES[modelId] ??
		Object.values(ADDED)
			.flat()
			.find((m) => m.id === modelId)?.price
	);
}

/** The price of a model id listed in FAKE_PRICES; throws for others. */
export function fakePriceOf(modelId: string): FakePrice {
	const found = livePriceOf(modelId);
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
	const models = fakeModelsOf(provider);
	const exact = models.find((m) => m.id === modelId);
	if (exact) return exact;
	// Longest prefix wins: 'gpt-4o-mini-2024-07-18' is gpt-4o-mini, not gpt-4o.
	const prefixed = models.filter((m) => modelId.startsWith(m.id + separator) && modelId.length > m.id.length + 1);
	return prefixed.sort((a, b) => b.id.length - a.id.length)[0];
}
