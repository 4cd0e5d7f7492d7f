import type Anthropic from '@anthropic-ai/sdk';
import { guardedCall, isRecord, tokenCount, type CallControl } from './call';
import {
	failureForStatus,
	retryAfterFromHeaders,
	sdkConnectionFailure,
	stringCode,
	type Classified,
	type ProviderFailure
} from './errors';
import { anthropicRequest } from './anthropic-request';
import { checkKeyWith } from './key-check';
import { modelListUrl } from './model-lists';
import { normalizeKeyShape } from './key-format';
import { loadedSdks, loadSdks } from './sdk';
import type { ChatCall, FinishReason, ProviderAdapter, ProviderEvent, TokenReport } from './types';

// Anthropic Messages through `@anthropic-ai/sdk` 1.x (`baseURL` without /v1). API version
// 2026-10-21 rejects temperature/top_p/top_k, so they are not sent (anthropic-request.ts translates).

/** Its documented error types (`error.type`), the only codes it has. */
const ANTHROPIC_ERROR_TYPES: ReadonlySet<string> = new Set([
	'invalid_request_error',
	'authentication_error',
	'billing_error',
	'permission_error',
	'not_found_error',
	'request_too_large',
	'rate_limit_error',
	'api_error',
	'overloaded_error',
	'timeout_error'
]);

export const anthropicAdapter: ProviderAdapter = {
	id: 'anthropic',
	chat: (call, baseUrl) =>
		guardedCall(anthropicAdapter, call, (control) =>
			call.stream ? streamChat(call, baseUrl, control) : completeChat(call, baseUrl, control)
		),
	// The key check uses the API version the list call has always accepted.
	checkKey: (apiKey, baseUrl, options) =>
		checkKeyWith(
			{
				url: modelListUrl('anthropic', baseUrl),
				headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' },
				listsModelsOf: 'anthropic'
			},
			options
		),
	normalizeKey: (raw) => normalizeKeyShape('anthropic', raw),
	classifyError: classifyAnthropicError,
	knownCodes: ANTHROPIC_ERROR_TYPES
};

function classifyAnthropicError(error: unknown): Classified | undefined {
	const sdk = loadedSdks()?.Anthropic;
	if (!sdk) return undefined;
	const connection = sdkConnectionFailure(sdk, error);
	if (connection || !(error instanceof sdk.APIError)) return connection;
	const type = stringCode(error.type);
	const retryAfterSeconds = retryAfterFromHeaders(error.headers);
	if (error.status !== undefined) {
		return { failure: failureForStatus(error.status), status: error.status, retryAfterSeconds, providerCode: type };
	}
	// `event: error` mid-stream, e.g. overloaded_error.
	return { failure: failureForAnthropicType(type), retryAfterSeconds, providerCode: type };
}

function failureForAnthropicType(type: string | undefined): ProviderFailure {
	switch (type) {
		case 'authentication_error':
			return 'auth';
		case 'permission_error':
			return 'forbidden';
		case 'billing_error':
			return 'quota';
		case 'rate_limit_error':
			return 'rate_limited';
		case 'overloaded_error':
			return 'overloaded';
		case 'not_found_error':
			return 'not_found';
		case 'invalid_request_error':
		case 'request_too_large':
			return 'bad_request';
		case 'timeout_error':
			return 'timeout';
		default:
			return 'server';
	}
}

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

async function* streamChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const stream = await (
		await clientFor(call, baseUrl)
	).messages.create({ ...anthropicRequest(call), stream: true }, { signal: control.signal });
	let input: InputTokens | undefined;
	let completionTokens: number | undefined;
	let finish: FinishReason | undefined;
	// Content block index → the tool call's index among this answer's tool calls.
	const toolIndexOfBlock = new Map<number, number>();
	for await (const event of stream) {
		control.touch();
		switch (event.type) {
			case 'message_start':
				input = inputTokensOf(event.message.usage);
				break;
			case 'content_block_start':
				if (event.content_block.type === 'tool_use') {
					const index = toolIndexOfBlock.size;
					toolIndexOfBlock.set(event.index, index);
					const { id, name } = event.content_block;
					yield { type: 'tool_call', index, id, name, arguments: '' };
				}
				break;
			case 'content_block_delta':
				if (event.delta.type === 'text_delta') yield { type: 'delta', text: event.delta.text };
				if (event.delta.type === 'input_json_delta') {
					const index = toolIndexOfBlock.get(event.index);
					if (index !== undefined) yield { type: 'tool_call', index, arguments: event.delta.partial_json };
				}
				break;
			case 'message_delta':
				// output_tokens is cumulative: the last message_delta holds the total.
				completionTokens = tokenCount(isRecord(event.usage) ? event.usage.output_tokens : undefined);
				input ??= inputTokensOf(event.usage);
				if (event.delta.stop_reason) finish = finishReasonOf(event.delta.stop_reason);
				break;
		}
	}
	if (input !== undefined && completionTokens !== undefined) yield { type: 'usage', ...input, completionTokens };
	yield { type: 'finish', reason: finish ?? 'other' };
}

async function* completeChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const message = await (
		await clientFor(call, baseUrl)
	).messages.create({ ...anthropicRequest(call), stream: false }, { signal: control.signal });
	const raw: unknown = message;
	if (!isRecord(raw) || !Array.isArray(raw.content)) throw new SyntaxError('message without content');
	const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
	if (text) yield { type: 'delta', text };
	let index = 0;
	for (const block of message.content) {
		if (block.type !== 'tool_use') continue;
		yield { type: 'tool_call', index: index++, id: block.id, name: block.name, arguments: JSON.stringify(block.input) };
	}
	const usage: unknown = raw.usage;
	const input = inputTokensOf(usage);
	const completionTokens = tokenCount(isRecord(usage) ? usage.output_tokens : undefined);
	if (input !== undefined && completionTokens !== undefined) yield { type: 'usage', ...input, completionTokens };
	yield { type: 'finish', reason: message.stop_reason ? finishReasonOf(message.stop_reason) : 'other' };
}

type InputTokens = Pick<TokenReport, 'promptTokens' | 'cachedReadTokens' | 'cacheWriteTokens'>;

/** Anthropic's input_tokens leaves out prompt-cache reads and writes; they are prompt tokens too. */
function inputTokensOf(usage: unknown): InputTokens | undefined {
	if (!isRecord(usage)) return undefined;
	const input = tokenCount(usage.input_tokens);
	if (input === undefined) return undefined;
	const written = tokenCount(usage.cache_creation_input_tokens) ?? 0;
	const read = tokenCount(usage.cache_read_input_tokens) ?? 0;
	return {
		promptTokens: input + written + read,
		...(read ? { cachedReadTokens: read } : {}),
		...(written ? { cacheWriteTokens: written } : {})
	};
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
		case 'tool_use':
			return 'tool_calls';
		default:
			return 'other';
	}
}
