import type Anthropic from '@anthropic-ai/sdk';
import { guardedCall, isRecord, tokenCount, type CallControl } from './call';
import { loadSdks } from './sdk';
import type { ChatCall, FinishReason, ProviderAdapter, ProviderEvent } from './types';

/**
 * Anthropic Messages through `@anthropic-ai/sdk` 1.x (`baseURL` without /v1; the SDK adds it).
 * API version 2026-10-21 rejects temperature/top_p/top_k, so `call.temperature` is not sent;
 * `max_tokens` is required. System messages become the `system` parameter.
 */
export const anthropicAdapter: ProviderAdapter = {
	id: 'anthropic',
	chat: (call, baseUrl) =>
		guardedCall('anthropic', call, (control) =>
			call.stream ? streamChat(call, baseUrl, control) : completeChat(call, baseUrl, control)
		)
};

async function clientFor(call: ChatCall, baseUrl: string): Promise<Anthropic> {
	const { Anthropic } = await loadSdks();
	return new Anthropic({
		apiKey: call.apiKey,
		baseURL: baseUrl,
		maxRetries: 0,
		timeout: call.timeoutMs,
		logLevel: 'off'
	});
}

function requestBody(call: ChatCall) {
	const system = call.messages
		.filter((m) => m.role === 'system')
		.map((m) => m.content)
		.join('\n\n');
	return {
		model: call.model,
		max_tokens: call.maxOutputTokens,
		...(system === '' ? {} : { system }),
		messages: call.messages
			.filter((m): m is typeof m & { role: 'user' | 'assistant' } => m.role !== 'system')
			.map((m) => ({ role: m.role, content: m.content }))
	};
}

async function* streamChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const stream = await (
		await clientFor(call, baseUrl)
	).messages.create({ ...requestBody(call), stream: true }, { signal: control.signal });
	let promptTokens: number | undefined;
	let completionTokens: number | undefined;
	let finish: FinishReason | undefined;
	for await (const event of stream) {
		control.touch();
		switch (event.type) {
			case 'message_start':
				promptTokens = inputTokensOf(event.message.usage);
				break;
			case 'content_block_delta':
				if (event.delta.type === 'text_delta') yield { type: 'delta', text: event.delta.text };
				break;
			case 'message_delta':
				// output_tokens is cumulative: the last message_delta holds the total.
				completionTokens = tokenCount(isRecord(event.usage) ? event.usage.output_tokens : undefined);
				promptTokens ??= inputTokensOf(event.usage);
				if (event.delta.stop_reason) finish = finishReasonOf(event.delta.stop_reason);
				break;
		}
	}
	if (promptTokens !== undefined && completionTokens !== undefined) {
		yield { type: 'usage', promptTokens, completionTokens };
	}
	yield { type: 'finish', reason: finish ?? 'other' };
}

async function* completeChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const message = await (
		await clientFor(call, baseUrl)
	).messages.create({ ...requestBody(call), stream: false }, { signal: control.signal });
	const raw: unknown = message;
	if (!isRecord(raw) || !Array.isArray(raw.content)) throw new SyntaxError('message without content');
	const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
	if (text) yield { type: 'delta', text };
	const usage: unknown = raw.usage;
	const promptTokens = inputTokensOf(usage);
	const completionTokens = tokenCount(isRecord(usage) ? usage.output_tokens : undefined);
	if (promptTokens !== undefined && completionTokens !== undefined) {
		yield { type: 'usage', promptTokens, completionTokens };
	}
	yield { type: 'finish', reason: message.stop_reason ? finishReasonOf(message.stop_reason) : 'other' };
}

/** input_tokens, plus prompt-cache tokens if any (they are prompt tokens too). */
function inputTokensOf(usage: unknown): number | undefined {
	if (!isRecord(usage)) return undefined;
	const input = tokenCount(usage.input_tokens);
	if (input === undefined) return undefined;
	return (
		input + (tokenCount(usage.cache_creation_input_tokens) ?? 0) + (tokenCount(usage.cache_read_input_tokens) ?? 0)
	);
}

function finishReasonOf(reason: string): FinishReason {
	switch (reason) {
		case 'end_turn':
		case 'stop_sequence':
			return 'stop';
		case 'max_tokens':
		case 'model_context_window_exceeded':
			return 'length';
		case 'refusal':
			return 'content_filter';
		default:
			return 'other';
	}
}
