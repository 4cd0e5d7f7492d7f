import {
	getAdapter,
	ProviderError,
	type ChatMessage,
	type GenerationOptions,
	type ProviderEvent
} from '$lib/server/providers';
import { withRoutableKey, type RoutableKey } from '$lib/server/keys';
import type { RouteAttempt } from './plan';
import type { ChatDeps } from './types';

export interface OpenedStream {
	first: IteratorResult<ProviderEvent>;
	iterator: AsyncIterator<ProviderEvent>;
}

export interface UpstreamCall {
	userId: string;
	messages: ChatMessage[];
	maxOutputTokens: number;
	options?: GenerationOptions;
	stream: boolean;
	signal: AbortSignal;
}

/**
 * Opens the key, starts the call and waits for its first event: a failure up to here happened
 * before the first token, so the caller may retry or fall back. The unsealed key bytes are zeroed
 * once the SDK client holds its copy (a JS string, which cannot be wiped: docs/security.md).
 */
export async function openStream(
	deps: ChatDeps,
	attempt: RouteAttempt,
	keysById: ReadonlyMap<string, RoutableKey>,
	call: UpstreamCall
): Promise<OpenedStream> {
	const adapter = getAdapter(attempt.servedBy);
	const start = async (apiKey: string): Promise<OpenedStream> => {
		const iterator = adapter
			.chat(
				{
					...call.options,
					apiKey,
					model: attempt.upstreamModel,
					messages: call.messages,
					maxOutputTokens: call.maxOutputTokens,
					stream: call.stream,
					signal: call.signal,
					timeoutMs: deps.config.providerTimeoutMs
				},
				deps.config.baseUrls[attempt.servedBy]
			)
			[Symbol.asyncIterator]();
		return { iterator, first: await iterator.next() };
	};
	if (attempt.key.kind === 'app') {
		const appKey = deps.config.appOpenRouterKey;
		if (!appKey) throw new ProviderError({ provider: 'openrouter', failure: 'auth', afterFirstToken: false });
		return start(appKey);
	}
	const key = keysById.get(attempt.key.keyId);
	if (!key) throw new ProviderError({ provider: attempt.servedBy, failure: 'auth', afterFirstToken: false });
	return withRoutableKey(deps.keyring, call.userId, key, start);
}

/** Aborts `target` (with `source`'s reason) when `source` aborts; returns the unhook. */
export function linkAbort(target: AbortController, source: AbortSignal): () => void {
	const onAbort = () => target.abort(source.reason);
	if (source.aborted) onAbort();
	else source.addEventListener('abort', onAbort, { once: true });
	return () => source.removeEventListener('abort', onAbort);
}
