import type { Config, Provider } from '$lib/server/config';
import { getAdapter, KEY_CHECK_TIMEOUT_MS, type KeyCheck } from '$lib/server/providers';

/** Asks the provider whether it accepts `apiKey` (its adapter's cheapest authenticated call). Never throws. */
export function checkProviderKey(
	config: Pick<Config, 'baseUrls'>,
	provider: Provider,
	apiKey: string,
	signal?: AbortSignal,
	timeoutMs = KEY_CHECK_TIMEOUT_MS
): Promise<KeyCheck> {
	return getAdapter(provider).checkKey(apiKey, config.baseUrls[provider], { signal, timeoutMs });
}

/** The pasted key trimmed and shape-checked for `provider`, before anything is stored or sent. */
export function normalizeProviderKey(provider: Provider, raw: string): string {
	return getAdapter(provider).normalizeKey(raw);
}

/** Why a check got no definitive answer, in words for a notice. */
export function describeCheckFailure(check: KeyCheck): string {
	if (check.errorCode === 'timeout') return 'no answer within 10 seconds';
	if (check.errorCode === 'network') return 'network error';
	if (check.httpStatus !== undefined) return `it answered ${check.httpStatus}`;
	return check.errorCode ?? 'no answer';
}
