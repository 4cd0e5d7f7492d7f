// Deterministic token counts and replies, so tests can predict usage exactly.
import type { ProviderName } from './types';

/** Fixed per-message overhead, like real chat formats' role/separator tokens. */
export const TOKENS_PER_MESSAGE = 4;

/**
 * Prompt tokens = Σ over prompt messages (the system prompt counts as one message) of
 * ceil(chars / 4) + 4, where chars is the JS string length of the message's text parts joined.
 */
export function countPromptTokens(messageTexts: readonly string[]): number {
	return messageTexts.reduce((sum, text) => sum + Math.ceil(text.length / 4) + TOKENS_PER_MESSAGE, 0);
}

/** Completion tokens = ceil(reply chars / 4). */
export function countCompletionTokens(reply: string): number {
	return Math.ceil(reply.length / 4);
}

export const MAX_ECHOED_CHARS = 200;

/** The reply a key without a custom `reply` gets. */
export function defaultReply(provider: ProviderName, model: string, lastUserText: string): string {
	return `Hello from fake-${provider} (model ${model}). You said: ${lastUserText.slice(0, MAX_ECHOED_CHARS)}`;
}

export const WORDS_PER_CHUNK = 3;

/**
 * Split a reply into stream chunks of a few words each; joining the chunks gives the reply back
 * exactly (whitespace stays attached to the word before it).
 */
export function splitIntoChunks(reply: string, wordsPerChunk = WORDS_PER_CHUNK): string[] {
	const words = reply.split(/(?<=\s)(?=\S)/);
	const chunks: string[] = [];
	for (let i = 0; i < words.length; i += wordsPerChunk) {
		chunks.push(words.slice(i, i + wordsPerChunk).join(''));
	}
	return chunks.length > 0 ? chunks : [''];
}

/**
 * Totals and their parts, in Latchkey's terms: `promptTokens` counts every input token (cached
 * reads and cache writes included), `completionTokens` every output token (reasoning included).
 * Each dialect writes them the way its provider does.
 */
export interface Usage {
	promptTokens: number;
	completionTokens: number;
	cachedReadTokens?: number;
	cacheWriteTokens?: number;
	reasoningTokens?: number;
}

export function usageFor(promptTexts: readonly string[], reply: string): Usage {
	return {
		promptTokens: countPromptTokens(promptTexts),
		completionTokens: countCompletionTokens(reply)
	};
}
