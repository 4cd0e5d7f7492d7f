import { costMicros, countTextTokens, type CatalogModel } from '$lib/server/catalog';
import type { FinalUsage } from './types';

export type ReportedUsage = { promptTokens: number; completionTokens: number; costMicros?: number };

/** A provider's report no request to `model` could produce: not counts, or beyond its window. */
function isImplausible(model: CatalogModel, reported: ReportedUsage): boolean {
	const tokens = (n: number, most: number) => Number.isSafeInteger(n) && n >= 0 && n <= most;
	// OpenRouter may route to a dearer host than the catalog price: ten times the worst case is still possible.
	const mostCost = 10 * costMicros(model, model.contextWindow, model.contextWindow);
	return (
		!tokens(reported.promptTokens, model.contextWindow) ||
		!tokens(reported.completionTokens, model.contextWindow) ||
		(reported.costMicros !== undefined && !tokens(reported.costMicros, mostCost))
	);
}

/**
 * Provider-reported usage wins (OpenRouter's own cost when it sent one); without it, or when it is
 * impossible (a broken or hostile provider), tokens are counted with our tokenizer and the record
 * is flagged as estimated. Costs round up.
 */
export function finalUsage(
	model: CatalogModel,
	reported: ReportedUsage | undefined,
	promptEstimate: number,
	text: string
): { usage: FinalUsage; implausible: boolean } {
	const implausible = reported !== undefined && isImplausible(model, reported);
	if (reported && !implausible) {
		const { promptTokens, completionTokens } = reported;
		const cost = reported.costMicros ?? costMicros(model, promptTokens, completionTokens);
		return { usage: { promptTokens, completionTokens, costMicros: cost, estimated: false }, implausible };
	}
	const completionTokens = countTextTokens(text);
	return {
		usage: {
			promptTokens: promptEstimate,
			completionTokens,
			costMicros: costMicros(model, promptEstimate, completionTokens),
			estimated: true
		},
		implausible
	};
}
