// What the browser and the server both know about each provider; the server's adapters are in
// $lib/server/providers. Nothing here may import server code.

export const PROVIDER_IDS = ['openai', 'anthropic', 'google', 'openrouter'] as const;

export type ProviderId = (typeof PROVIDER_IDS)[number];

export function isProviderId(value: unknown): value is ProviderId {
	return typeof value === 'string' && (PROVIDER_IDS as readonly string[]).includes(value);
}

export const PROVIDER_NAMES: Readonly<Record<ProviderId, string>> = {
	openai: 'OpenAI',
	anthropic: 'Anthropic',
	google: 'Google Gemini',
	openrouter: 'OpenRouter'
};

/** A provider's name; an id we do not know is shown as it is, none as an em dash. */
export function providerName(provider: string | null): string {
	if (provider === null) return '—';
	return isProviderId(provider) ? PROVIDER_NAMES[provider] : provider;
}

export interface KeyFormat {
	prefix: string;
	/** Total length bounds, prefix included. */
	minLength: number;
	maxLength: number;
	/** A short example for a placeholder. */
	example: string;
}

/**
 * Real keys (2026): OpenAI `sk-proj-…` (51 to ~200 chars), Anthropic `sk-ant-api03-…` (~108), Google
 * `AIza…` (39), OpenRouter `sk-or-v1-<64 hex>` (73). Looser bounds, so a new key generation does
 * not lock users out, yet a pasted paragraph is refused.
 */
export const KEY_FORMATS: Readonly<Record<ProviderId, KeyFormat>> = {
	openai: { prefix: 'sk-', minLength: 20, maxLength: 300, example: 'sk-…' },
	anthropic: { prefix: 'sk-ant-', minLength: 30, maxLength: 300, example: 'sk-ant-…' },
	google: { prefix: 'AIza', minLength: 30, maxLength: 100, example: 'AIza… (39 characters)' },
	openrouter: { prefix: 'sk-or-', minLength: 30, maxLength: 300, example: 'sk-or-…' }
};

export function expectedKeyShape(provider: ProviderId): string {
	const { prefix, minLength, maxLength } = KEY_FORMATS[provider];
	return `${PROVIDER_NAMES[provider]} keys start with ${prefix} and are ${minLength} to ${maxLength} characters of letters, digits, - and _.`;
}

// Longest prefix first: every Anthropic and OpenRouter key also starts with OpenAI's `sk-`.
const BY_PREFIX_LENGTH = [...PROVIDER_IDS].sort((a, b) => KEY_FORMATS[b].prefix.length - KEY_FORMATS[a].prefix.length);

/** Which provider a key looks like it belongs to, by its prefix. */
export function providerOfKeyShape(apiKey: string): ProviderId | undefined {
	return BY_PREFIX_LENGTH.find((provider) => apiKey.startsWith(KEY_FORMATS[provider].prefix));
}

/** Where each provider lets you create a key. */
export const KEY_PAGE_URLS: Readonly<Record<ProviderId, string>> = {
	openai: 'https://platform.openai.com/api-keys',
	anthropic: 'https://console.anthropic.com/settings/keys',
	google: 'https://aistudio.google.com/app/apikey',
	openrouter: 'https://openrouter.ai/settings/keys'
};
