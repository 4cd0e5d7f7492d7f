export type {
	ChatCall,
	ChatMessage,
	FinishReason,
	ProviderAdapter,
	ProviderEvent,
	ProviderId,
	TokenReport
} from './types';
export { getAdapter, classifyProviderFailure } from './registry';
export {
	ProviderError,
	isRetryableFailure,
	invalidatesKeyFailure,
	type ClassifyContext,
	type ProviderErrorInit,
	type ProviderFailure
} from './errors';
export { KEY_CHECK_TIMEOUT_MS, type KeyCheck, type KeyCheckOptions } from './key-check';
export { fetchOpenRouterModels, parseModelList, type ListedModel, type OpenRouterPricing } from './model-lists';
// The old name routing imports; the names live in $lib/providers.
export { PROVIDER_NAMES as PROVIDER_LABELS } from '$lib/providers';
