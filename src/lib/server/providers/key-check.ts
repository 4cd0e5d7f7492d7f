import type { KeyStatus } from '$lib/server/db';
import type { ProviderId } from '$lib/providers';
import { readModelList, type ListedModel } from './model-lists';

export interface KeyCheck {
	/** `unverified`: no definitive answer (network, timeout, 429, 5xx). Never a reason to call a key invalid. */
	status: KeyStatus;
	/** Why it is not `valid`: `http_401`, `http_403`, `api_key_invalid`, `http_503`, `timeout`, `network`, ... */
	errorCode?: string;
	/** The HTTP status the provider answered, if it answered. */
	httpStatus?: number;
	/** The models the key may use, when the check was a read of the provider's model list. */
	models?: ListedModel[];
}

export interface KeyCheckOptions {
	signal?: AbortSignal;
	timeoutMs?: number;
}

export const KEY_CHECK_TIMEOUT_MS = 10_000;

/** A provider's cheapest authenticated call; the key travels in a header, never in the URL (URLs reach logs). */
export interface KeyCheckRequest {
	url: string;
	headers: Record<string, string>;
	/** Another answer that means "invalid key" besides 401/403 (Google: 400 API_KEY_INVALID); our error code for it. */
	rejectedKeyCode?: (status: number, body: () => Promise<string>) => Promise<string | undefined>;
	/** The call reads this provider's model list: a valid key's answer is kept as its list. */
	listsModelsOf?: ProviderId;
}

/**
 * 2xx is `valid`; 401/403 (or the provider's own rejection) `invalid`; anything else (5xx, 429,
 * other 4xx, network error, timeout, a redirect) `unverified`. Never throws; nothing it returns
 * contains the key.
 */
export async function checkKeyWith(request: KeyCheckRequest, options: KeyCheckOptions = {}): Promise<KeyCheck> {
	const { signal } = options;
	const timeout = AbortSignal.timeout(options.timeoutMs ?? KEY_CHECK_TIMEOUT_MS);
	let response: Response;
	try {
		response = await fetch(request.url, {
			method: 'GET',
			headers: { accept: 'application/json', ...request.headers },
			// A redirect could carry x-api-key / x-goog-api-key to another host; refuse it.
			redirect: 'error',
			signal: signal ? AbortSignal.any([signal, timeout]) : timeout
		});
	} catch {
		return { status: 'unverified', errorCode: timeout.aborted ? 'timeout' : signal?.aborted ? 'aborted' : 'network' };
	}
	const status = response.status;
	try {
		if (status >= 200 && status < 300) {
			const models = request.listsModelsOf ? await readModelList(request.listsModelsOf, response) : undefined;
			return { status: 'valid', httpStatus: status, ...(models ? { models } : {}) };
		}
		if (status === 401 || status === 403) return { status: 'invalid', errorCode: `http_${status}`, httpStatus: status };
		const rejected = await request.rejectedKeyCode?.(status, () => bodyText(response));
		if (rejected) return { status: 'invalid', errorCode: rejected, httpStatus: status };
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
