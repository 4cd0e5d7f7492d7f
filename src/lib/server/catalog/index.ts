export { MODELS, PRICE_SOURCE, type CatalogModel } from './models';
export { costMicros, requireModel, worstCaseCostMicros } from './catalog';
export {
	getModel,
	hasOpenRouterList,
	learnKeyList,
	learnAppModelRules,
	listModels,
	modelsOfKey,
	appModelRules
} from './live';
export { appAllows, buildCatalog, type AppModelRule } from './build';
export { type ModelPrice } from './prices';
export { loadCatalog, refreshAppModels, startCatalogRefresh, type CatalogDeps } from './refresh';
export { saveKeyModelList } from './store';
export { appModelRulesInput, appModelRulesView, setAppModelRules, type AppModelRulesView } from './rules';
export {
	PROMPT_BUDGET_MS,
	countPromptTokens,
	countTextTokens,
	EXACT_FLOOR_CHARS,
	loadTokenizer,
	TOKENS_PER_MESSAGE,
	TOKENS_PER_REPLY
} from './tokenizer';
