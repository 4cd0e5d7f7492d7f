import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';

/**
 * Token counts with OpenAI's o200k_base encoding (GPT-4o and later): exact for OpenAI models and a
 * close estimate for the others. Used to reserve a prompt's cost before a call and to estimate
 * usage when a provider reported none. Importing only this encoding loads one table.
 */

/** OpenAI's documented chat overhead: every message is wrapped in ~3 tokens, every reply primed with 3. */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY = 3;

// User text such as "<|endoftext|>" is counted as plain text, never refused as a special token.
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function countTextTokens(text: string): number {
	return text === '' ? 0 : countTokens(text, AS_PLAIN_TEXT);
}

export function countPromptTokens(messages: readonly { role: string; content: string }[]): number {
	let total = TOKENS_PER_REPLY;
	for (const message of messages) {
		total += TOKENS_PER_MESSAGE + countTextTokens(message.role) + countTextTokens(message.content);
	}
	return total;
}
