export type {
	ChatCall,
	ChatMessage,
	ContentPart,
	FinishReason,
	GenerationOptions,
	ImageSource,
	ProviderAdapter,
	ProviderEvent,
	ProviderId,
	ReasoningEffort,
	ResponseFormat,
	ToolCall,
	ToolChoice,
	ToolDefinition,
	TokenReport
} from './types';
export { getAdapter, classifyProviderFailure } from './registry';
export { geminiSchema, imageUrlMediaType } from './google-request';
export { anthropicOutputSchema } from './anthropic-request';
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
