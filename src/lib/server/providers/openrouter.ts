import { openAICompatibleChat, openRouterCostMicros } from './openai';
import type { ProviderAdapter } from './types';

/**
 * OpenRouter through the `openai` SDK (`baseURL` = config.baseUrls.openrouter, e.g.
 * https://openrouter.ai/api/v1). Model ids are OpenRouter's own ('openai/gpt-4o-mini').
 * It reports what the call cost (`usage.cost`, USD), which the usage event carries as costMicros.
 */
export const openRouterAdapter: ProviderAdapter = {
	id: 'openrouter',
	chat: (call, baseUrl) =>
		openAICompatibleChat(call, baseUrl, {
			provider: 'openrouter',
			maxTokensField: 'max_tokens',
			// Usage (with cost) is always sent today; asking for it keeps older deployments honest.
			extraBody: { usage: { include: true } },
			costMicrosOf: openRouterCostMicros
		})
};
