import { costOfUsage, worstCaseCostMicros as worstCaseOf, type TokenUsage } from './cost';
import type { CatalogModel } from './models';

/**
 * What a call to `model` cost, in integer micro-dollars, rounded UP (never under-bill): each kind
 * of token at its rate, long-context tiers applied. A model with no known price costs 0, and the
 * caller records the cost as unknown.
 */
export function costMicros(
	model: Readonly<CatalogModel>,
	promptTokens: number,
	completionTokens: number,
	cache: Pick<TokenUsage, 'cachedReadTokens' | 'cacheWriteTokens'> = {}
): number {
	return model.price ? costOfUsage(model.price, { promptTokens, completionTokens, ...cache }) : 0;
}

/**
 * The most a call can cost: its prompt plus the most output it may produce (the request's
 * `maxOutputTokens`, capped at the model's own maximum), at the dearest rates that can apply.
 * Reserved against spending caps; 0 for a model with no known price (caps then count requests
 * and tokens only).
 */
export function worstCaseCostMicros(
	model: Readonly<CatalogModel>,
	promptTokens: number,
	maxOutputTokens: number
): number {
	if (!model.price) return 0;
	return worstCaseOf(model.price, promptTokens, Math.min(maxOutputTokens, model.maxOutputTokens));
}
