import type OpenAIClient from 'openai';
import type AnthropicClient from '@anthropic-ai/sdk';

/**
 * The `openai` and Anthropic SDKs (~23 MiB of memory together) load on the first provider call,
 * not at start-up: an instance that has served no chat yet (or only pages, admin and exports)
 * does not hold them. The Google SDK is tiny and imported normally.
 */
export interface Sdks {
	OpenAI: typeof OpenAIClient;
	Anthropic: typeof AnthropicClient;
}

let loaded: Sdks | undefined;
let loading: Promise<Sdks> | undefined;

export function loadSdks(): Promise<Sdks> {
	loading ??= Promise.all([import('openai'), import('@anthropic-ai/sdk')]).then(([openai, anthropic]) => {
		loaded = { OpenAI: openai.default, Anthropic: anthropic.default };
		return loaded;
	});
	return loading;
}

/** The SDKs once a call has loaded them; before that no SDK error can exist to classify. */
export function loadedSdks(): Sdks | undefined {
	return loaded;
}
