export { MODELS, PRICE_SOURCE, type CatalogModel } from './models';
export { costMicros, getModel, listModels, requireModel, worstCaseCostMicros } from './catalog';
export { countPromptTokens, countTextTokens, loadTokenizer, TOKENS_PER_MESSAGE, TOKENS_PER_REPLY } from './tokenizer';
