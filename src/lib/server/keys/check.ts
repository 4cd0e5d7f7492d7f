import type { Config, Provider } from '$lib/server/config';
import type { KeyStatus } from '$lib/server/db';

export interface KeyCheck {
	/** `unverified`: no definitive answer (network, timeout, 429, 5xx). Never a reason to call a key invalid. */
	status: KeyStatus;
	/** Why it is not `valid`: `http_401`, `http_403`, `api_key_invalid`, `http_503`, `timeout`, `network`, ... */
	errorCode?: string;
	/** The HTTP status the provider answered, if it answered. */
	httpStatus?: number;
}

export const KEY_CHECK_TIMEOUT_MS = 10_000;

interface CheckRequest {
	url: string;
	headers: Record<string, string>;
}

/**
 * Each provider's cheapest authenticated call. The key travels in a header, never in the URL
 * (URLs end up in logs and proxies).
 */
function checkRequest(baseUrls: Config['baseUrls'], provider: Provider, apiKey: string): CheckRequest {
	switch (provider) {
		case 'openai':
			return { url: `${baseUrls.openai}/models`, headers: { authorization: `Bearer ${apiKey}` } };
		case 'anthropic':
			return {
				url: `${baseUrls.anthropic}/v1/models`,
				headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' }
			};
		case 'google':
			return { url: `${baseUrls.google}/v1beta/models`, headers: { 'x-goog-api-key': apiKey } };
		case 'openrouter':
			return { url: `${baseUrls.openrouter}/key`, headers: { authorization: `Bearer ${apiKey}` } };
	}
}

/**
 * Asks the provider whether it accepts `apiKey`. 401/403 (and Google's 400 API_KEY_INVALID) are
 * `invalid`; 2xx is `valid`; anything else (5xx, 429, other 4xx, network error, timeout, a
 * redirect) is `unverified`. Never throws; nothing it returns contains the key.
 */
export async function checkProviderKey(
	config: Pick<Config, 'baseUrls'>,
	provider: Provider,
	apiKey: string,
	signal?: AbortSignal,
	timeoutMs = KEY_CHECK_TIMEOUT_MS
): Promise<KeyCheck> {
	const { url, headers } = checkRequest(config.baseUrls, provider, apiKey);
	const timeout = AbortSignal.timeout(timeoutMs);
	let response: Response;
	try {
		response = await fetch(url, {
			method: 'GET',
			headers: { accept: 'application/json', ...headers },
			// A redirect could carry x-api-key / x-goog-api-key to another host; refuse it.
			redirect: 'error',
			signal: signal ? AbortSignal.any([signal, timeout]) : timeout
		});
	} catch {
		return { status: 'unverified', errorCode: timeout.aborted ? 'timeout' : signal?.aborted ? 'aborted' : 'network' };
	}
	const status = response.status;
	try {
		if (status >= 200 && status < 300) return { status: 'valid', httpStatus: status };
		if (status === 401 || status === 403) return { status: 'invalid', errorCode: `http_${status}`, httpStatus: status };
		if (provider === 'google' && status === 400 && (await bodyText(response)).includes('API_KEY_INVALID')) {
			return { status: 'invalid', errorCode: 'api_key_invalid', httpStatus: status };
		}
		return { status: 'unverified', errorCode: `http_${status}`, httpStatus: status };
	} finally {
		await response.body?.cancel().catch(() => {});
	}
}

/** The first 64 kB of an error body; enough for Google's error details. */
async function bodyText(response: Response): Promise<string> {
	const reader = response.body?.getReader();
	if (!reader) return '';
	const decoder = new TextDecoder();
	let text = '';
	try {
		while (text.length < 65_536) {
			const { done, value } = await reader.read();
			if (done) break;
			text += decoder.decode(value, { stream: true });
		}
	} catch {
		// A body cut short: judge what arrived.
	} finally {
		reader.releaseLock();
	}
	return text;
}

/** Why a check got no definitive answer, in words for a notice. */
export function describeCheckFailure(check: KeyCheck): string {
	if (check.errorCode === 'timeout') return 'no answer within 10 seconds';
	if (check.errorCode === 'network') return 'network error';
	if (check.httpStatus !== undefined) return `it answered ${check.httpStatus}`;
	return check.errorCode ?? 'no answer';
}
