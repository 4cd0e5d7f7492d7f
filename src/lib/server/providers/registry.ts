import { anthropicAdapter } from './anthropic';
import { classifyWith, type ClassifyContext, type ProviderError } from './errors';
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

/** Map anything a call to `provider` threw to a `ProviderError`, by that provider's rules. */
export function classifyProviderFailure(provider: ProviderId, error: unknown, context: ClassifyContext): ProviderError {
	return classifyWith(getAdapter(provider), error, context);
}
