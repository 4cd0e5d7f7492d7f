import { failureForStatus } from './errors';
import { checkKeyWith } from './key-check';
import { normalizeKeyShape } from './key-format';
import { classifyOpenAICompatibleError, openAICompatibleChat, openRouterCostMicros } from './openai';
import type { ProviderAdapter } from './types';

// OpenRouter through the `openai` SDK (baseURL e.g. https://openrouter.ai/api/v1), with OpenRouter's
// own model ids ('openai/gpt-4o-mini') and the cost it reports (`usage.cost`) as costMicros.

/** Its numeric `error.code`s (the HTTP statuses it documents), and the code of an error inside a stream. */
const OPENROUTER_CODES: ReadonlySet<string> = new Set([
	'400',
	'401',
	'402',
	'403',
	'404',
	'408',
	'413',
	'429',
	'500',
	'502',
	'503',
	'504',
	'server_error'
]);

export const openRouterAdapter: ProviderAdapter = {
	id: 'openrouter',
	chat: (call, baseUrl) =>
		openAICompatibleChat(call, baseUrl, {
			rules: openRouterAdapter,
			maxTokensField: 'max_tokens',
			// Usage (with cost) is always sent today; asking for it keeps older deployments honest.
			extraBody: { usage: { include: true } },
			costMicrosOf: openRouterCostMicros
		}),
	checkKey: (apiKey, baseUrl, options) =>
		checkKeyWith({ url: `${baseUrl}/key`, headers: { authorization: `Bearer ${apiKey}` } }, options),
	normalizeKey: (raw) => normalizeKeyShape('openrouter', raw),
	// 403 is its moderation refusing the prompt: the key (often the app's, shared by all) is fine.
	classifyError: (error) =>
		classifyOpenAICompatibleError(error, (status) => (status === 403 ? 'bad_request' : failureForStatus(status))),
	knownCodes: OPENROUTER_CODES
};
