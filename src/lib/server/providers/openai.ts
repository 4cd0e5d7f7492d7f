import type OpenAI from 'openai';
import type {
	ChatCompletion,
	ChatCompletionChunk,
	ChatCompletionCreateParamsNonStreaming,
	ChatCompletionCreateParamsStreaming
} from 'openai/resources/chat/completions';
import {
	failureForStatus,
	retryAfterFromHeaders,
	sdkConnectionFailure,
	stringCode,
	type Classified,
	type FailureRules,
	type ProviderFailure
} from './errors';
import { guardedCall, isRecord, tokenCount, usdToMicrosRoundedUp, type CallControl } from './call';
import { checkKeyWith } from './key-check';
import { modelListUrl } from './model-lists';
import { openAIMessages, openAIOptionFields, toolCallEvents } from './openai-request';
import { normalizeKeyShape } from './key-format';
import { sseJsonBatches } from './sse';
import { loadedSdks, loadSdks } from './sdk';
import type { ChatCall, FinishReason, ProviderAdapter, ProviderEvent } from './types';

// OpenAI Chat Completions through the `openai` SDK; OpenRouter speaks the same protocol with a few
// extras (usage.cost, numeric error codes, errors inside a 200), so openrouter.ts reuses this.

export interface OpenAICompatibleOptions {
	/** Whose failure rules classify this call's errors. */
	rules: FailureRules;
	/** OpenAI wants `max_completion_tokens` (required by reasoning models); OpenRouter documents `max_tokens`. */
	maxTokensField: 'max_completion_tokens' | 'max_tokens';
	/** Fields the SDK's types don't know but the provider accepts. */
	extraBody?: Record<string, unknown>;
	/** Read a provider-reported cost from the usage object (OpenRouter). */
	costMicrosOf?: (usage: Record<string, unknown>) => number | undefined;
}

/** OpenAI's documented `error.code`s, and the `error.type`s that stand in when the code is null. */
const OPENAI_CODES: ReadonlySet<string> = new Set([
	'invalid_api_key',
	'insufficient_quota',
	'rate_limit_exceeded',
	'model_not_found',
	'context_length_exceeded',
	'unsupported_country_region_territory',
	'unsupported_parameter',
	'unsupported_value',
	'invalid_value',
	'missing_required_parameter',
	'server_error',
	'invalid_request_error',
	'authentication_error',
	'request_forbidden',
	'requests',
	'tokens'
]);

export const openAIAdapter: ProviderAdapter = {
	id: 'openai',
	chat: (call, baseUrl) =>
		openAICompatibleChat(call, baseUrl, { rules: openAIAdapter, maxTokensField: 'max_completion_tokens' }),
	checkKey: (apiKey, baseUrl, options) =>
		checkKeyWith(
			{
				url: modelListUrl('openai', baseUrl),
				headers: { authorization: `Bearer ${apiKey}` },
				listsModelsOf: 'openai'
			},
			options
		),
	normalizeKey: (raw) => normalizeKeyShape('openai', raw),
	// A 429 is a rate limit unless the code says the account is out of credit.
	classifyError: (error) =>
		classifyOpenAICompatibleError(error, (status, code) => failureForStatus(status, code === 'insufficient_quota')),
	knownCodes: OPENAI_CODES
};

export function openAICompatibleChat(
	call: ChatCall,
	baseUrl: string,
	options: OpenAICompatibleOptions
): AsyncGenerator<ProviderEvent> {
	return guardedCall(options.rules, call, (control) =>
		call.stream ? streamChat(call, baseUrl, options, control) : completeChat(call, baseUrl, options, control)
	);
}

/**
 * The openai SDK's errors. `failureFor` applies the provider's own reading of a status (or of
 * OpenRouter's numeric code, which also arrives inside a 200 stream without any status).
 */
export function classifyOpenAICompatibleError(
	error: unknown,
	failureFor: (status: number, code: string | undefined) => ProviderFailure
): Classified | undefined {
	const OpenAI = loadedSdks()?.OpenAI;
	if (!OpenAI) return undefined;
	const connection = sdkConnectionFailure(OpenAI, error);
	if (connection || !(error instanceof OpenAI.APIError)) return connection;
	const code = stringCode(error.code) ?? stringCode(error.type);
	const numericCode =
		typeof error.code === 'number' ? error.code : /^\d{3}$/.test(String(error.code)) ? Number(error.code) : undefined;
	const retryAfterSeconds = retryAfterFromHeaders(error.headers);
	if (error.status !== undefined) {
		return {
			failure: failureFor(error.status, code),
			status: error.status,
			retryAfterSeconds,
			providerCode: code ?? (numericCode === undefined ? undefined : String(numericCode))
		};
	}
	if (numericCode !== undefined) {
		return { failure: failureFor(numericCode, undefined), retryAfterSeconds, providerCode: String(numericCode) };
	}
	return { failure: failureForOpenAICode(code), retryAfterSeconds, providerCode: code };
}

/** An error event inside a 200 stream: only its code says what happened. */
function failureForOpenAICode(code: string | undefined): ProviderFailure {
	switch (code) {
		case 'invalid_api_key':
		case 'authentication_error':
			return 'auth';
		case 'insufficient_quota':
			return 'quota';
		case 'rate_limit_exceeded':
		case 'requests':
		case 'tokens':
			return 'rate_limited';
		case 'model_not_found':
			return 'not_found';
		case 'context_length_exceeded':
		case 'invalid_request_error':
			return 'bad_request';
		default:
			// The provider failing to finish, whatever it calls it.
			return 'server';
	}
}

async function clientFor(call: ChatCall, baseUrl: string): Promise<OpenAI> {
	const { OpenAI } = await loadSdks();
	// A client per call: it holds the user's key only for this call. Retries and fallback belong
	// to routing. organization/project are pinned so OPENAI_ORG_ID in the server's environment
	// never rides along with a user's key.
	return new OpenAI({
		apiKey: call.apiKey,
		baseURL: baseUrl,
		organization: null,
		project: null,
		maxRetries: 0,
		timeout: call.timeoutMs,
		logLevel: 'off'
	});
}

function requestBody(call: ChatCall, options: OpenAICompatibleOptions) {
	return {
		model: call.model,
		messages: openAIMessages(call.messages),
		[options.maxTokensField]: call.maxOutputTokens,
		...openAIOptionFields(call),
		...options.extraBody
	};
}

async function* streamChat(
	call: ChatCall,
	baseUrl: string,
	options: OpenAICompatibleOptions,
	control: CallControl
): AsyncGenerator<ProviderEvent> {
	const body: ChatCompletionCreateParamsStreaming = {
		...requestBody(call, options),
		stream: true,
		// Without this OpenAI sends no usage at all in a stream.
		stream_options: { include_usage: true }
	};
	const { OpenAI } = await loadSdks();
	const client = await clientFor(call, baseUrl);
	// Opened by the SDK (request, headers, error statuses), read here: see sseJsonBatches.
	const response = await client.chat.completions.create(body, { signal: control.signal }).asResponse();
	if (!response.body) throw new SyntaxError('chat completion stream without a body');
	let finish: FinishReason | undefined;
	let usage: ProviderEvent | undefined;
	for await (const batch of sseJsonBatches(response.body)) {
		control.touch();
		for (const data of batch) {
			// An error inside a 200 stream, thrown as the SDK's own stream reader throws it.
			if (isRecord(data) && data.error) throw new OpenAI.APIError(undefined, data.error, undefined, response.headers);
			const chunk = data as ChatCompletionChunk;
			const choice = chunk.choices?.[0];
			const text = choice?.delta?.content ?? choice?.delta?.refusal;
			if (text) yield { type: 'delta', text };
			if (choice?.delta?.tool_calls) yield* toolCallEvents(choice.delta.tool_calls, true);
			if (choice?.finish_reason) finish = finishReasonOf(choice.finish_reason);
			usage = usageEvent(chunk.usage, options) ?? usage;
		}
	}
	if (usage) yield usage;
	yield { type: 'finish', reason: finish ?? 'other' };
}

async function* completeChat(
	call: ChatCall,
	baseUrl: string,
	options: OpenAICompatibleOptions,
	control: CallControl
): AsyncGenerator<ProviderEvent> {
	const body: ChatCompletionCreateParamsNonStreaming = { ...requestBody(call, options), stream: false };
	const client = await clientFor(call, baseUrl);
	const completion: ChatCompletion = await client.chat.completions.create(body, { signal: control.signal });
	const raw: unknown = completion;
	// OpenRouter can answer 200 with only an `error` (the upstream failed after routing).
	if (isRecord(raw) && isRecord(raw.error)) {
		const { OpenAI } = await loadSdks();
		throw new OpenAI.APIError(undefined, raw.error, undefined, undefined);
	}
	if (!isRecord(raw) || !Array.isArray(raw.choices)) throw new SyntaxError('chat completion without choices');
	const choice = completion.choices[0];
	const text = choice?.message.content ?? choice?.message.refusal;
	if (text) yield { type: 'delta', text };
	yield* toolCallEvents(choice?.message.tool_calls, false);
	const usage = usageEvent(completion.usage, options);
	if (usage) yield usage;
	yield { type: 'finish', reason: choice ? finishReasonOf(choice.finish_reason) : 'other' };
}

function usageEvent(usage: unknown, options: OpenAICompatibleOptions): ProviderEvent | undefined {
	if (!isRecord(usage)) return undefined;
	const promptTokens = tokenCount(usage.prompt_tokens);
	const completionTokens = tokenCount(usage.completion_tokens);
	if (promptTokens === undefined || completionTokens === undefined) return undefined;
	const costMicros = options.costMicrosOf?.(usage);
	// Parts of the totals: cached prompt tokens and reasoning tokens, priced at their own rates.
	const cached = isRecord(usage.prompt_tokens_details)
		? tokenCount(usage.prompt_tokens_details.cached_tokens)
		: undefined;
	const reasoning = isRecord(usage.completion_tokens_details)
		? tokenCount(usage.completion_tokens_details.reasoning_tokens)
		: undefined;
	return {
		type: 'usage',
		promptTokens,
		completionTokens,
		...(cached ? { cachedReadTokens: Math.min(cached, promptTokens) } : {}),
		...(reasoning ? { reasoningTokens: Math.min(reasoning, completionTokens) } : {}),
		...(costMicros === undefined ? {} : { costMicros })
	};
}

function finishReasonOf(reason: string | null): FinishReason {
	switch (reason) {
		case 'stop':
			return 'stop';
		case 'length':
			return 'length';
		case 'content_filter':
			return 'content_filter';
		case 'tool_calls':
		case 'function_call':
			return 'tool_calls';
		default:
			return 'other';
	}
}

/** OpenRouter's `usage.cost` in USD, plus the upstream cost it bills separately for BYOK requests. */
export function openRouterCostMicros(usage: Record<string, unknown>): number | undefined {
	const cost = usage.cost;
	if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) return undefined;
	const details = usage.cost_details;
	const upstream = isRecord(details) ? details.upstream_inference_cost : undefined;
	const byokUpstream =
		usage.is_byok === true && typeof upstream === 'number' && Number.isFinite(upstream) && upstream > 0 ? upstream : 0;
	return usdToMicrosRoundedUp(cost + byokUpstream);
}
