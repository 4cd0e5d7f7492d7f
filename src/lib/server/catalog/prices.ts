import type { OpenRouterPricing } from '$lib/server/providers';

/** Rates in integer micro-dollars per MILLION tokens (USD per token × 1e12). */
export interface ModelPrice {
	input: number;
	output: number;
	cacheRead?: number;
	cacheWrite?: number;
	source: 'genai-prices' | 'openrouter' | 'override';
}

const MICROS_PER_MTOK_DIGITS = 12;

/** USD per token as OpenRouter lists it ('0.00000015') → micro-dollars per million tokens, exactly. */
function microsPerMTok(usdPerToken: string | undefined): number | null {
	if (usdPerToken === undefined || !/^\d+(\.\d+)?$/.test(usdPerToken)) return null;
	const [whole = '0', fraction = ''] = usdPerToken.split('.');
	const digits = (fraction + '0'.repeat(MICROS_PER_MTOK_DIGITS)).slice(0, MICROS_PER_MTOK_DIGITS);
	const value = Number(BigInt(whole) * 10n ** BigInt(MICROS_PER_MTOK_DIGITS) + BigInt(digits));
	return Number.isSafeInteger(value) ? value : null;
}

/** OpenRouter's listed price; null when it lists none or a negative ("-1": varies). */
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
