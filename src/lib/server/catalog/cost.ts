import type { ModelPrice, ModelRates } from './prices';

/**
 * Token counts as a provider reports them: `promptTokens` is every input token, of which
 * `cachedReadTokens` were read from a prompt cache and `cacheWriteTokens` written to one;
 * `completionTokens` is every output token, reasoning included (reasoning is billed as output).
 */
export interface TokenUsage {
	promptTokens: number;
	completionTokens: number;
	cachedReadTokens?: number;
	cacheWriteTokens?: number;
}

function whole(value: number, name: string): number {
	if (!Number.isSafeInteger(value) || value < 0)
		throw new RangeError(`${name} must be a non-negative whole number of tokens`);
	return value;
}

/** The rates for a request with this many prompt tokens: the highest tier it is above, else the base. */
export function ratesFor(price: ModelPrice, promptTokens: number): ModelRates {
	const tier = [...(price.tiers ?? [])].reverse().find((t) => promptTokens > t.aboveInputTokens);
	return tier ?? price;
}

/**
 * What a call cost, in integer micro-dollars, rounded UP (never under-bill). Each kind of token at
 * its own rate; a cached read or cache write without its own rate is billed as input.
 */
export function costOfUsage(price: ModelPrice, usage: TokenUsage): number {
	const prompt = whole(usage.promptTokens, 'promptTokens');
	const read = Math.min(whole(usage.cachedReadTokens ?? 0, 'cachedReadTokens'), prompt);
	const written = Math.min(whole(usage.cacheWriteTokens ?? 0, 'cacheWriteTokens'), prompt - read);
	const rates = ratesFor(price, prompt);
	const scaled =
		(prompt - read - written) * rates.input +
		read * (rates.cacheRead ?? rates.input) +
		written * (rates.cacheWrite ?? rates.input) +
		whole(usage.completionTokens, 'completionTokens') * rates.output;
	return Math.ceil(scaled / 1_000_000);
}

/**
 * The most a call can cost, reserved against spending caps: its prompt at the dearest input rate
 * it could be billed (a cache write can cost more than plain input), plus its output budget.
 */
export function worstCaseCostMicros(price: ModelPrice, promptTokens: number, maxOutputTokens: number): number {
	const rates = ratesFor(price, whole(promptTokens, 'promptTokens'));
	const dearestInput = Math.max(rates.input, rates.cacheWrite ?? 0);
	return Math.ceil(
		(promptTokens * dearestInput + whole(maxOutputTokens, 'maxOutputTokens') * rates.output) / 1_000_000
	);
}
