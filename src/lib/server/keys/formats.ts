import type { Provider } from '$lib/server/config';
import { AppError } from '$lib/server/errors';

export const PROVIDER_DISPLAY_NAMES: Record<Provider, string> = {
	openai: 'OpenAI',
	anthropic: 'Anthropic',
	google: 'Google Gemini',
	openrouter: 'OpenRouter'
};

interface KeyFormat {
	prefix: string;
	/** Total length bounds, prefix included. */
	minLength: number;
	maxLength: number;
}

/**
 * Shapes of real keys (2026): OpenAI `sk-proj-…`/`sk-svcacct-…`/legacy `sk-…` (51 to ~200 chars),
 * Anthropic `sk-ant-api03-…` (~108), Google `AIza…` (39), OpenRouter `sk-or-v1-<64 hex>` (73).
 * The bounds are looser than that, so a new key generation does not lock users out, and tight
 * enough that a pasted paragraph or a 10 kB blob is refused.
 */
export const KEY_FORMATS: Record<Provider, KeyFormat> = {
	openai: { prefix: 'sk-', minLength: 20, maxLength: 300 },
	anthropic: { prefix: 'sk-ant-', minLength: 30, maxLength: 300 },
	google: { prefix: 'AIza', minLength: 30, maxLength: 100 },
	openrouter: { prefix: 'sk-or-', minLength: 30, maxLength: 300 }
};

const KEY_BODY = /^[A-Za-z0-9_-]+$/;
// C0 and C1 controls, plus line and paragraph separators and zero-width characters.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\ufeff]/;

export function expectedShape(provider: Provider): string {
	const f = KEY_FORMATS[provider];
	return `${PROVIDER_DISPLAY_NAMES[provider]} keys start with ${f.prefix} and are ${f.minLength} to ${f.maxLength} characters of letters, digits, - and _.`;
}

/** Which provider a key looks like it belongs to, by prefix (most specific first). */
export function providerOfKeyShape(apiKey: string): Provider | undefined {
	if (apiKey.startsWith('sk-ant-')) return 'anthropic';
	if (apiKey.startsWith('sk-or-')) return 'openrouter';
	if (apiKey.startsWith('AIza')) return 'google';
	if (apiKey.startsWith('sk-')) return 'openai';
	return undefined;
}

function formatError(provider: Provider, problem: string): AppError {
	return new AppError('bad_request', `${problem} ${expectedShape(provider)}`, {
		reason: 'invalid_key_format',
		details: { field: 'apiKey', provider }
	});
}

/**
 * Trims surrounding whitespace and checks the key's shape for `provider`, before anything is
 * stored or sent anywhere. Messages name the expected shape and never repeat the key.
 */
export function normalizeProviderKey(provider: Provider, raw: string): string {
	const name = PROVIDER_DISPLAY_NAMES[provider];
	const format = KEY_FORMATS[provider];
	const apiKey = raw.trim();
	if (apiKey.length === 0) throw formatError(provider, `Paste your ${name} API key.`);
	if (apiKey.length > format.maxLength) {
		throw formatError(
			provider,
			`That is ${apiKey.length} characters, too long for an API key: paste only the key itself.`
		);
	}
	if (CONTROL.test(apiKey)) {
		throw formatError(
			provider,
			'The key contains control characters (a line break, tab or invisible character): paste only the key, on one line.'
		);
	}
	if (/\s/.test(apiKey)) throw formatError(provider, 'The key contains spaces: paste only the key itself.');
	const looksLike = providerOfKeyShape(apiKey);
	if (looksLike && looksLike !== provider) {
		throw new AppError(
			'bad_request',
			`This looks like ${article(PROVIDER_DISPLAY_NAMES[looksLike])} key, not ${article(name)} key. Choose ${PROVIDER_DISPLAY_NAMES[looksLike]} as the provider, or paste your ${name} key. ${expectedShape(provider)}`,
			{ reason: 'wrong_provider_key', details: { field: 'apiKey', provider, looksLike } }
		);
	}
	if (!apiKey.startsWith(format.prefix)) throw formatError(provider, `This is not ${article(name)} API key.`);
	if (!KEY_BODY.test(apiKey.slice(format.prefix.length))) {
		throw formatError(provider, 'The key contains characters API keys do not have.');
	}
	if (apiKey.length < format.minLength) {
		throw formatError(provider, `That is only ${apiKey.length} characters, too short: copy the whole key.`);
	}
	return apiKey;
}

const article = (word: string) => (/^[AEIOU]/i.test(word) ? `an ${word}` : `a ${word}`);
