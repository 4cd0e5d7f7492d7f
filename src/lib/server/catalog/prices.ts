import { calcPrice, type ModelPrice as LibraryPrice } from '@pydantic/genai-prices';
import type { ProviderId } from '$lib/providers';
import type { OpenRouterPricing } from '$lib/server/providers';

/**
 * A model's rates in integer micro-dollars per MILLION tokens (USD per token × 1e12), so that a
 * cost is one exact integer sum and one rounded-up division. Prices come from the pinned
 * `@pydantic/genai-prices` (direct models), OpenRouter's own list (its models), or an admin override.
 */
export interface ModelRates {
	input: number;
	output: number;
	cacheRead?: number;
	cacheWrite?: number;
}

export interface ModelPrice extends ModelRates {
	/** Rates for the whole request once its prompt is above `aboveInputTokens` (long context), lowest first. */
	tiers?: (ModelRates & { aboveInputTokens: number })[];
	source: 'genai-prices' | 'openrouter' | 'override';
}

const DIGITS = 12;

/** USD per token as OpenRouter lists it ('0.00000015') → micro-dollars per million tokens, exactly. */
function microsPerMTok(usdPerToken: string | undefined): number | null {
	if (usdPerToken === undefined || !/^\d+(\.\d+)?$/.test(usdPerToken)) return null;
	const [whole = '0', fraction = ''] = usdPerToken.split('.');
	const digits = (fraction + '0'.repeat(DIGITS)).slice(0, DIGITS);
	const value = Number(BigInt(whole) * 10n ** BigInt(DIGITS) + BigInt(digits));
	return Number.isSafeInteger(value) ? value : null;
}

/** OpenRouter's listed price; null when it lists none or a negative ("-1": varies by route). */
export function priceFromOpenRouterPricing(pricing: OpenRouterPricing | undefined): ModelPrice | null {
	if (!pricing) return null;
	const input = microsPerMTok(pricing.prompt);
	const output = microsPerMTok(pricing.completion);
	if (input === null || output === null) return null;
	const cacheRead = microsPerMTok(pricing.input_cache_read);
	const cacheWrite = microsPerMTok(pricing.input_cache_write);
	return {
		input,
		output,
		...(cacheRead !== null ? { cacheRead } : {}),
		...(cacheWrite !== null ? { cacheWrite } : {}),
		source: 'openrouter'
	};
}

// The library's rates are USD per million tokens with a few decimals: × 1e6 is micro-dollars per
// million; rounding removes the float noise (0.075 × 1e6 = 75000.00000000001).
const micros = (usdPerMTok: number) => Math.round(usdPerMTok * 1e6);

type LibraryRate = LibraryPrice[string];
const FIELDS = {
	input: 'input_mtok',
	output: 'output_mtok',
	cacheRead: 'cache_read_mtok',
	cacheWrite: 'cache_write_mtok'
} as const;

function baseOf(rate: LibraryRate): number | undefined {
	if (typeof rate === 'number') return micros(rate);
	return rate ? micros(rate.base) : undefined;
}

function fromLibrary(prices: LibraryPrice): ModelPrice | null {
	const input = baseOf(prices[FIELDS.input]);
	const output = baseOf(prices[FIELDS.output]);
	if (input === undefined || output === undefined) return null;
	const price: ModelPrice = { input, output, source: 'genai-prices' };
	const cacheRead = baseOf(prices[FIELDS.cacheRead]);
	const cacheWrite = baseOf(prices[FIELDS.cacheWrite]);
	if (cacheRead !== undefined) price.cacheRead = cacheRead;
	if (cacheWrite !== undefined) price.cacheWrite = cacheWrite;
	// Tiers: every threshold any rate has; at each, each rate's price for prompts above it.
	const starts = new Set<number>();
	for (const field of Object.values(FIELDS)) {
		const rate = prices[field];
		if (rate && typeof rate !== 'number') for (const tier of rate.tiers) starts.add(tier.start);
	}
	const rateAbove = (rate: LibraryRate, start: number): number | undefined => {
		if (rate === undefined || typeof rate === 'number') return baseOf(rate);
		const tier = [...rate.tiers].reverse().find((t) => start >= t.start);
		return micros(tier ? tier.price : rate.base);
	};
	const tiers = [...starts]
		.sort((a, b) => a - b)
		.map((start) => {
			const read = rateAbove(prices[FIELDS.cacheRead], start);
			const write = rateAbove(prices[FIELDS.cacheWrite], start);
			return {
				aboveInputTokens: start,
				input: rateAbove(prices[FIELDS.input], start) ?? input,
				output: rateAbove(prices[FIELDS.output], start) ?? output,
				...(read !== undefined ? { cacheRead: read } : {}),
				...(write !== undefined ? { cacheWrite: write } : {})
			};
		});
	if (tiers.length > 0) price.tiers = tiers;
	return price;
}

const looked = new Map<string, ModelPrice | null>();

/** The library's price for a provider's own model id (dated snapshots match their model); memoized. */
export function lookupPrice(provider: ProviderId, providerModel: string): ModelPrice | null {
	const key = `${provider}/${providerModel}`;
	let price = looked.get(key);
	if (price === undefined) {
		const found = calcPrice({ input_tokens: 1, output_tokens: 1 }, providerModel, { providerId: provider });
		price = found ? fromLibrary(found.model_price) : null;
		looked.set(key, price);
	}
	return price;
}

export type PriceOverrides = ReadonlyMap<string, ModelRates>;

/** An admin's override wins; then OpenRouter's listed price for its own models; then the library. */
export function resolvePrice(
	model: { provider: ProviderId; providerModel: string; openRouterPricing?: OpenRouterPricing },
	overrides: PriceOverrides
): ModelPrice | null {
	const override = overrides.get(`${model.provider}/${model.providerModel}`);
	if (override) return { ...override, source: 'override' };
	if (model.provider === 'openrouter') {
		return priceFromOpenRouterPricing(model.openRouterPricing) ?? lookupPrice('openrouter', model.providerModel);
	}
	return lookupPrice(model.provider, model.providerModel);
}
