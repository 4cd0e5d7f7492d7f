import { costMicros, countTextTokens, type CatalogModel } from '$lib/server/catalog';
import type { TokenReport } from '$lib/server/providers';
import type { FinalUsage } from './types';

export type ReportedUsage = TokenReport;

/** A provider's report no request to `model` could produce: not counts, or beyond its window. */
function isImplausible(model: CatalogModel, reported: ReportedUsage): boolean {
	const tokens = (n: number, most: number) => Number.isSafeInteger(n) && n >= 0 && n <= most;
	// OpenRouter may route to a dearer host than the catalog price: ten times the worst case is still possible.
	const mostCost = 10 * costMicros(model, model.contextWindow, model.contextWindow);
	const parts = (reported.cachedReadTokens ?? 0) + (reported.cacheWriteTokens ?? 0);
	return (
		!tokens(reported.promptTokens, model.contextWindow) ||
		!tokens(reported.completionTokens, model.contextWindow) ||
		!tokens(parts, reported.promptTokens) ||
		!tokens(reported.reasoningTokens ?? 0, reported.completionTokens) ||
		(reported.costMicros !== undefined && model.price !== null && !tokens(reported.costMicros, mostCost))
	);
}

/**
 * Provider-reported usage wins (OpenRouter's own cost when it sent one; otherwise each kind of
 * token at its rate); without it, or when it is impossible (a broken or hostile provider), tokens
 * are counted with our tokenizer and the record is flagged as estimated. Costs round up. A model
 * with no known price costs 0, flagged unknown, unless the provider reported a cost.
 */
export function finalUsage(
	model: CatalogModel,
	reported: ReportedUsage | undefined,
	promptEstimate: number,
	text: string
): { usage: FinalUsage; implausible: boolean } {
	const implausible = reported !== undefined && isImplausible(model, reported);
	if (reported && !implausible) {
		const {
			promptTokens,
			completionTokens,
			cachedReadTokens = 0,
			cacheWriteTokens = 0,
			reasoningTokens = 0
		} = reported;
		const cost =
			reported.costMicros ?? costMicros(model, promptTokens, completionTokens, { cachedReadTokens, cacheWriteTokens });
		const costKnown = reported.costMicros !== undefined || model.price !== null;
		return {
			usage: {
				promptTokens,
				completionTokens,
				cachedReadTokens,
				cacheWriteTokens,
				reasoningTokens,
				costMicros: costKnown ? cost : 0,
				costKnown,
				estimated: false
			},
			implausible
		};
	}
	const completionTokens = countTextTokens(text);
	return {
		usage: {
			promptTokens: promptEstimate,
			completionTokens,
			costMicros: costMicros(model, promptEstimate, completionTokens),
			costKnown: model.price !== null,
			estimated: true
		},
		implausible
	};
}
