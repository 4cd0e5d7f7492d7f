import type { ProviderId } from '$lib/providers';
import type { FailureRules } from './errors';
import type { KeyCheck, KeyCheckOptions } from './key-check';

// The one shape every adapter has: routing calls `chat()` without knowing which provider answers.

export type { ProviderId };

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
	/** How long the provider may stay silent (before the response, between chunks); a long stream is not cut. */
	timeoutMs: number;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'other';

/** In order: `delta`s, at most one `usage` (only if reported, so the caller can estimate), one `finish` last. */
export type ProviderEvent =
	{ type: 'delta'; text: string } | ({ type: 'usage' } & TokenReport) | { type: 'finish'; reason: FinishReason };

/**
 * Tokens as the provider reported them. `promptTokens` is every input token (cached reads and
 * cache writes included); `completionTokens` every output token (reasoning included). The kinds
 * are parts of those totals, priced at their own rates.
 */
export interface TokenReport {
	promptTokens: number;
	completionTokens: number;
	cachedReadTokens?: number;
	cacheWriteTokens?: number;
	reasoningTokens?: number;
	/** Provider-reported cost (OpenRouter `usage.cost`), USD as integer micro-dollars, rounded up. */
	costMicros?: number;
}

/** Everything provider-specific: the chat call, the key check, the key's shape and the failure rules. */
export interface ProviderAdapter extends FailureRules {
	/** `baseUrl` in the SDK's own convention (config.baseUrls[id]). */
	chat(call: ChatCall, baseUrl: string): AsyncIterable<ProviderEvent>;
	/** Does the provider accept this key? Its cheapest authenticated call; never throws. */
	checkKey(apiKey: string, baseUrl: string, options?: KeyCheckOptions): Promise<KeyCheck>;
	/** The pasted key trimmed and shape-checked; an AppError names the expected shape, never the key. */
	normalizeKey(raw: string): string;
}
