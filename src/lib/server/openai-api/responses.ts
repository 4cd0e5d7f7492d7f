import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { Model } from 'openai/resources/models';
import { microsToUsd } from '$lib/money';
import type { FinishReason, ToolCall } from '$lib/server/providers';
import type { FinalUsage, ModelOption } from '$lib/server/routing';

/**
 * The bodies of the OpenAI-compatible API, typed against the official `openai` SDK's own types so
 * that a field the SDK expects cannot go missing (tests also validate them against a JSON schema
 * derived from OpenAI's OpenAPI description). Our one addition is `usage.cost`, in USD, as
 * OpenRouter reports it.
 */

/** OpenAI's usage plus what the request cost, in US dollars (from integer micro-dollars). */
export type UsageWithCost = CompletionUsage & { cost: number };
export type CompletionBody = Omit<ChatCompletion, 'usage'> & { usage: UsageWithCost };
export type ChunkBody = Omit<ChatCompletionChunk, 'usage'> & { usage?: UsageWithCost | null };
export interface ModelListBody {
	object: 'list';
	data: Model[];
}

/** What every body of one completion shares. */
export interface CompletionMeta {
	/** `chatcmpl-<request id>`: the same id in every chunk and in our logs and usage records. */
	id: string;
	/** Unix seconds when the request arrived. */
	created: number;
	/** The public model id the client sent (`provider/model`). */
	model: string;
}

export function completionMeta(requestId: string, model: string, now = new Date()): CompletionMeta {
	return { id: `chatcmpl-${requestId}`, created: Math.floor(now.getTime() / 1000), model };
}

/** stop, length, content_filter and tool_calls as they are; anything else ended normally: stop. */
export function openAiFinishReason(reason: FinishReason): 'stop' | 'length' | 'content_filter' | 'tool_calls' {
	return reason === 'length' || reason === 'content_filter' || reason === 'tool_calls' ? reason : 'stop';
}

export function usageBody(usage: FinalUsage): UsageWithCost {
	return {
		prompt_tokens: usage.promptTokens,
		completion_tokens: usage.completionTokens,
		total_tokens: usage.promptTokens + usage.completionTokens,
		cost: microsToUsd(usage.costMicros)
	};
}

export function completionBody(
	meta: CompletionMeta,
	text: string,
	finishReason: FinishReason,
	usage: FinalUsage,
	toolCalls: readonly ToolCall[] = []
): CompletionBody {
	const calls = toolCalls.map((c) => ({
		id: c.id,
		type: 'function' as const,
		function: { name: c.name, arguments: c.arguments }
	}));
	return {
		id: meta.id,
		object: 'chat.completion',
		created: meta.created,
		model: meta.model,
		choices: [
			{
				index: 0,
				message:
					calls.length > 0
						? { role: 'assistant', content: text === '' ? null : text, refusal: null, tool_calls: calls }
						: { role: 'assistant', content: text, refusal: null },
				logprobs: null,
				finish_reason: openAiFinishReason(finishReason)
			}
		],
		usage: usageBody(usage)
	};
}

export type ChunkPart =
	| { kind: 'role' }
	| { kind: 'content'; text: string }
	/** A piece of a tool call: id, type and name on its first piece only, as OpenAI streams them. */
	| { kind: 'tool_call'; index: number; id?: string; name?: string; arguments: string }
	| { kind: 'finish'; finishReason: FinishReason }
	| { kind: 'usage'; usage: FinalUsage };

/**
 * One `chat.completion.chunk`. With `include_usage`, every chunk carries `usage: null` except the
 * last, which has no choices and the usage; without it the field is absent, as OpenAI does.
 */
export function chunkBody(meta: CompletionMeta, part: ChunkPart, includeUsage: boolean): ChunkBody {
	const base = { id: meta.id, object: 'chat.completion.chunk' as const, created: meta.created, model: meta.model };
	if (part.kind === 'usage') return { ...base, choices: [], usage: usageBody(part.usage) };
	const choice: ChatCompletionChunk.Choice =
		part.kind === 'role'
			? { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }
			: part.kind === 'content'
				? { index: 0, delta: { content: part.text }, logprobs: null, finish_reason: null }
				: part.kind === 'tool_call'
					? { index: 0, delta: { tool_calls: [toolCallDelta(part)] }, logprobs: null, finish_reason: null }
					: { index: 0, delta: {}, logprobs: null, finish_reason: openAiFinishReason(part.finishReason) };
	return includeUsage ? { ...base, choices: [choice], usage: null } : { ...base, choices: [choice] };
}

/**
 * The SSE text of a content chunk, as `data: ${JSON.stringify(chunkBody(meta, content))}\n\n` would
 * write it, from the two halves around the text computed once per answer: a chunk is written per
 * token, and building then serialising its object each time was a visible part of a stream's CPU.
 */
export function contentChunkWriter(meta: CompletionMeta, includeUsage: boolean): (text: string) => string {
	const marker = '\u0000latchkey\u0000';
	const whole = `data: ${JSON.stringify(chunkBody(meta, { kind: 'content', text: marker }, includeUsage))}\n\n`;
	const halves = whole.split(JSON.stringify(marker));
	if (halves.length !== 2) {
		return (text) => `data: ${JSON.stringify(chunkBody(meta, { kind: 'content', text }, includeUsage))}\n\n`;
	}
	const [before, after] = halves as [string, string];
	return (text) => before + JSON.stringify(text) + after;
}

/** Latchkey's extras beside OpenAI's fields: what the selector shows, for clients that want it. */
export interface LatchkeyModelInfo {
	name: string;
	provider: string;
	key_source: 'user' | 'app' | 'unavailable';
	context_window: number;
	max_output_tokens: number;
	input_modalities: readonly string[];
	/** USD per million tokens as decimal strings; null: price unknown (served on your own key only). */
	pricing: { input: string; output: string; cached_input: string | null } | null;
}
function toolCallDelta(part: ChunkPart & { kind: 'tool_call' }): ChatCompletionChunk.Choice.Delta.ToolCall {
	const first = part.id !== undefined;
	return {
		index: part.index,
		...(first ? { id: part.id, type: 'function' as const } : {}),
		function: { ...(part.name === undefined ? {} : { name: part.name }), arguments: part.arguments }
	};
}

export type ListedApiModel = Model & { latchkey: LatchkeyModelInfo };

const perMillion = (micros: number) => microsToUsd(micros).toString();

/** `GET /api/v1/models`: the caller's live list in OpenAI's shape, with Latchkey's extras. */
export function modelListBody(options: readonly ModelOption[]): { object: 'list'; data: ListedApiModel[] } {
	return {
		object: 'list',
		data: options.map((option) => ({
			id: option.id,
			object: 'model',
			// OpenAI's field is required; a model whose list gives no date shows the epoch's day one.
			created: option.created ?? 0,
			owned_by: option.provider,
			latchkey: {
				name: option.displayName,
				provider: option.provider,
				key_source: option.keySource,
				context_window: option.contextWindow,
				max_output_tokens: option.maxOutputTokens,
				input_modalities: option.input,
				pricing: option.price && {
					input: perMillion(option.price.inputMicrosPerMTok),
					output: perMillion(option.price.outputMicrosPerMTok),
					cached_input:
						option.price.cachedInputMicrosPerMTok === null ? null : perMillion(option.price.cachedInputMicrosPerMTok)
				}
			}
		}))
	};
}
