export { MODELS, PRICE_SOURCE, type CatalogModel, type ModelInput } from './models';
export { costMicros, getModel, listModels, requireModel, worstCaseCostMicros } from './catalog';
export {
	PROMPT_BUDGET_MS,
	countPromptTokens,
	countTextTokens,
	EXACT_FLOOR_CHARS,
	loadTokenizer,
	TOKENS_PER_MESSAGE,
	TOKENS_PER_REPLY
} from './tokenizer';
