export type { ChatCall, ChatMessage, FinishReason, ProviderAdapter, ProviderEvent, ProviderId } from './types';
export { getAdapter } from './registry';
export {
	ProviderError,
	classifyProviderFailure,
	isRetryableFailure,
	invalidatesKeyFailure,
	PROVIDER_LABELS,
	type ClassifyContext,
	type ProviderErrorInit,
	type ProviderFailure
} from './errors';
