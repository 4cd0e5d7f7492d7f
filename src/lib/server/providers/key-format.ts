import { expectedKeyShape, KEY_FORMATS, PROVIDER_NAMES, providerOfKeyShape, type ProviderId } from '$lib/providers';
import { AppError } from '$lib/server/errors';

const KEY_BODY = /^[A-Za-z0-9_-]+$/;
// C0 and C1 controls, plus line and paragraph separators and zero-width characters.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\ufeff]/;

const article = (word: string) => (/^[AEIOU]/i.test(word) ? `an ${word}` : `a ${word}`);

function formatError(provider: ProviderId, problem: string): AppError {
	return new AppError('bad_request', `${problem} ${expectedKeyShape(provider)}`, {
		reason: 'invalid_key_format',
		details: { field: 'apiKey', provider }
	});
}

/**
 * Trims surrounding whitespace and checks a pasted key's shape for `provider` (KEY_FORMATS), before
 * anything is stored or sent. Messages name the expected shape and never repeat the key.
 */
export function normalizeKeyShape(provider: ProviderId, raw: string): string {
	const name = PROVIDER_NAMES[provider];
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
		const other = PROVIDER_NAMES[looksLike];
		throw new AppError(
			'bad_request',
			`This looks like ${article(other)} key, not ${article(name)} key. Choose ${other} as the provider, or paste your ${name} key. ${expectedKeyShape(provider)}`,
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
