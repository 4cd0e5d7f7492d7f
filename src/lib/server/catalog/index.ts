export { MODELS, type CatalogModel, type ModelInput } from './models';
export { costMicros, worstCaseCostMicros } from './catalog';
export { costOfUsage, ratesFor, type TokenUsage } from './cost';
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
export { lookupPrice, resolvePrice, type ModelPrice, type ModelRates, type PriceOverrides } from './prices';
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
export {
	deletePriceOverride,
	listPriceOverrides,
	priceOverrideInput,
	priceOverrideKey,
	setPriceOverride,
	type PriceOverrideView
} from './overrides';
