import type { Provider } from '$lib/server/config';

/**
 * The one shape every provider adapter has. The routing engine calls `chat()` without knowing
 * which provider answers; every adapter yields the same normalized events and throws only
 * `ProviderError` (providers/errors.ts).
 */

export type ProviderId = Provider;

export interface ChatMessage {
	role: 'system' | 'user' | 'assistant';
	content: string;
}

export interface ChatCall {
	/** Plaintext, for this call only; never logged, never in an error. */
	apiKey: string;
	/** The provider's own model id ('gpt-4o-mini', 'claude-sonnet-4-20250514', 'openai/gpt-4o-mini' on OpenRouter). */
	model: string;
	messages: ChatMessage[];
	maxOutputTokens: number;
	/** Dropped for Anthropic (API version 2026-10-21 rejects sampling parameters). */
	temperature?: number;
	/** false: the provider's non-stream call, yielding the same events. */
	stream: boolean;
	/** The caller's signal: aborting it closes the upstream request and throws `aborted`. */
	signal: AbortSignal;
	/**
	 * How long the provider may stay silent: until the response starts, and between stream chunks.
	 * A long answer that keeps streaming is not cut.
	 */
	timeoutMs: number;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'other';

/**
 * What a call yields, in this order: any number of `delta`s, at most one `usage` (only when the
 * provider reported usage, so the caller can tell "no usage" and estimate), then exactly one
 * `finish` as the last event of a call that succeeded.
 */
export type ProviderEvent =
	| { type: 'delta'; text: string }
	/** costMicros: provider-reported cost (OpenRouter `usage.cost`), USD as integer micro-dollars, rounded up. */
	| { type: 'usage'; promptTokens: number; completionTokens: number; costMicros?: number }
	| { type: 'finish'; reason: FinishReason };

export interface ProviderAdapter {
	id: ProviderId;
	/** `baseUrl` in the SDK's own convention (config.baseUrls[id]). */
	chat(call: ChatCall, baseUrl: string): AsyncIterable<ProviderEvent>;
}
