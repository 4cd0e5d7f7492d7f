/**
 * Token counts with OpenAI's o200k_base encoding (GPT-4o and later): exact for OpenAI models and a
 * close estimate for the others. Used to reserve a prompt's cost before a call and to estimate
 * usage when a provider reported none. Importing only this encoding loads one table.
 *
 * The table costs ~65 MB of memory and ~250 ms to load, so it is loaded on the first chat
 * (`loadTokenizer`), not at start-up: an instance that only serves pages, admin or exports
 * never pays for it.
 */

type Encoding = typeof import('gpt-tokenizer/encoding/o200k_base');

let encoding: Encoding | undefined;
let loading: Promise<void> | undefined;

export function loadTokenizer(): Promise<void> {
	loading ??= import('gpt-tokenizer/encoding/o200k_base').then((module) => {
		encoding = module;
	});
	return loading;
}

function encoder(): Encoding {
	if (!encoding) throw new Error('The tokenizer is not loaded yet: await loadTokenizer() first.');
	return encoding;
}

/** OpenAI's documented chat overhead: every message is wrapped in ~3 tokens, every reply primed with 3. */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY = 3;

// User text such as "<|endoftext|>" is counted as plain text, never refused as a special token.
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function countTextTokens(text: string): number {
	return text === '' ? 0 : encoder().countTokens(text, AS_PLAIN_TEXT);
}

export function countPromptTokens(messages: readonly { role: string; content: string }[]): number {
	let total = TOKENS_PER_REPLY;
	for (const message of messages) {
		total += TOKENS_PER_MESSAGE + countTextTokens(message.role) + countTextTokens(message.content);
	}
	return total;
}
