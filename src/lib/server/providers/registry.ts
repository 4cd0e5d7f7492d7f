import { anthropicAdapter } from './anthropic';
import { googleAdapter } from './google';
import { openAIAdapter } from './openai';
import { openRouterAdapter } from './openrouter';
import type { ProviderAdapter, ProviderId } from './types';

const ADAPTERS: Readonly<Record<ProviderId, ProviderAdapter>> = {
	openai: openAIAdapter,
	anthropic: anthropicAdapter,
	google: googleAdapter,
	openrouter: openRouterAdapter
};

/** The adapter for a provider; the caller need not know which one it got. */
export function getAdapter(id: ProviderId): ProviderAdapter {
	return ADAPTERS[id];
}
