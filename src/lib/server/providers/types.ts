import type { ProviderId } from '$lib/providers';
import type { FailureRules } from './errors';
import type { KeyCheck, KeyCheckOptions } from './key-check';

// The one shape every adapter has: routing calls `chat()` without knowing which provider answers.

export type { ProviderId };

/** An image in a user message: inline bytes (base64) or an https URL the provider fetches. */
export type ImageSource = ({ kind: 'data'; mediaType: string; base64: string } | { kind: 'url'; url: string }) & {
	/** OpenAI's `detail`, kept for the providers that have it. */
	detail?: 'low' | 'high';
};

export type ContentPart = { type: 'text'; text: string } | { type: 'image'; image: ImageSource };

/** A call the model asked for; `arguments` is the JSON text the model wrote (OpenAI's convention). */
export interface ToolCall {
	id: string;
	name: string;
	arguments: string;
}

/**
 * One message of a conversation. Plain text stays a string (the web chat's and most API messages):
 * parts appear only when a message carries images.
 */
export type ChatMessage =
	| { role: 'system'; content: string }
	| { role: 'user'; content: string | ContentPart[] }
	/** `content` may be '' when the turn only called tools. */
	| { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
	/** The answer to `toolCallId`; `name` is the called function's (Gemini needs it). */
	| { role: 'tool'; toolCallId: string; name: string; content: string };

/** A function the model may call: its JSON-Schema parameters as the client sent them. */
export interface ToolDefinition {
	name: string;
	description?: string;
	parameters?: Record<string, unknown>;
	strict?: boolean;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

export type ResponseFormat =
	| { type: 'text' }
	| { type: 'json_object' }
	| { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict?: boolean; description?: string };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high';

/** What the caller asked beyond the messages, in OpenAI's terms; each adapter sends what its API has. */
export interface GenerationOptions {
	temperature?: number;
	topP?: number;
	stop?: string[];
	seed?: number;
	/** An end-user id for the provider's abuse monitoring; it never changes the answer. */
	user?: string;
	tools?: ToolDefinition[];
	toolChoice?: ToolChoice;
	parallelToolCalls?: boolean;
	responseFormat?: ResponseFormat;
	reasoningEffort?: ReasoningEffort;
}

export interface ChatCall extends GenerationOptions {
	/** Plaintext, for this call only; never logged, never in an error. */
	apiKey: string;
	/** The provider's own model id ('gpt-4o-mini', 'claude-sonnet-4-20250514', 'openai/gpt-4o-mini' on OpenRouter). */
	model: string;
	messages: ChatMessage[];
	/** Output budget, reasoning included (as OpenAI's max_completion_tokens). */
	maxOutputTokens: number;
	/** false: the provider's non-stream call, yielding the same events. */
	stream: boolean;
	/** The caller's signal: aborting it closes the upstream request and throws `aborted`. */
	signal: AbortSignal;
	/** How long the provider may stay silent (before the response, between chunks); a long stream is not cut. */
	timeoutMs: number;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'other';

/**
 * In order: `delta`s and `tool_call`s, at most one `usage` (only if reported, so the caller can
 * estimate), one `finish` last.
 */
export type ProviderEvent =
	| { type: 'delta'; text: string }
	/**
	 * A piece of tool call number `index` of this answer (0-based, in order): the first piece
	 * carries `id` and `name`, later ones only more `arguments` text to append.
	 */
	| { type: 'tool_call'; index: number; id?: string; name?: string; arguments: string }
	| ({ type: 'usage' } & TokenReport)
	| { type: 'finish'; reason: FinishReason };

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
