import { AppError } from '$lib/server/errors';
import { getModel } from './live';
import type { CatalogModel } from './models';

/** The model with this public id, or a 400 naming what is available. */
export function requireModel(id: string): Readonly<CatalogModel> {
	const model = getModel(id);
	if (model) return model;
	const shown = id.length > 80 ? `${id.slice(0, 80)}…` : id;
	throw new AppError('bad_request', `Unknown model "${shown}". See GET /api/v1/models for the models available.`, {
		reason: 'model_not_found'
	});
}

/**
 * What a call cost, in integer micro-dollars, rounded UP (never under-bill): prices are per
 * million tokens, so the exact cost is (tokens × price) / 1e6 micro-dollars.
 */
export function costMicros(model: Readonly<CatalogModel>, promptTokens: number, completionTokens: number): number {
	const scaled =
		wholeTokens(promptTokens, 'promptTokens') * (model.price?.input ?? 0) +
		wholeTokens(completionTokens, 'completionTokens') * (model.price?.output ?? 0);
	return Math.ceil(scaled / 1_000_000);
}

/**
 * The most a call can cost: its prompt plus the most output it may produce (the request's
 * `maxOutputTokens`, capped at the model's own maximum). Reserved against spending caps.
 */
export function worstCaseCostMicros(
	model: Readonly<CatalogModel>,
	promptTokens: number,
	maxOutputTokens: number
): number {
	const output = Math.min(wholeTokens(maxOutputTokens, 'maxOutputTokens'), model.maxOutputTokens);
	return costMicros(model, promptTokens, output);
}

function wholeTokens(value: number, name: string): number {
	if (!Number.isSafeInteger(value) || value < 0) {
		throw new RangeError(`${name} must be a non-negative whole number of tokens`);
	}
	return value;
}
