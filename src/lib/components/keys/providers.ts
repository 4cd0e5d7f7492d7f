import type { ProviderId } from './types';

export const PROVIDER_ORDER: readonly ProviderId[] = ['openai', 'anthropic', 'google', 'openrouter'];

/** Where each provider lets you create a key (its own site). */
export const KEY_PAGE_URLS: Record<ProviderId, string> = {
	openai: 'https://platform.openai.com/api-keys',
	anthropic: 'https://console.anthropic.com/settings/keys',
	google: 'https://aistudio.google.com/app/apikey',
	openrouter: 'https://openrouter.ai/settings/keys'
};

/** A short example of the shape, next to the server's precise rule. */
export const KEY_EXAMPLES: Record<ProviderId, string> = {
	openai: 'sk-…',
	anthropic: 'sk-ant-…',
	google: 'AIza… (39 characters)',
	openrouter: 'sk-or-…'
};

export function isProviderId(value: unknown): value is ProviderId {
	return typeof value === 'string' && (PROVIDER_ORDER as readonly string[]).includes(value);
}
