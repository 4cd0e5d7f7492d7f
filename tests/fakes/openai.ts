// Fake OpenAI Chat Completions API: base URL `${url}/openai/v1`.
// The request parsing and chunk helpers are shared with the OpenRouter fake.
import type { IncomingMessage } from 'node:http';
import { fakeModelsOf } from './catalog';
import type { ChatCall, ChatParse, Dialect, ProviderErrors, StreamPlan } from './engine';
import { inlineImageNote, scriptedToolCall, toolResultNote, urlImageNote } from './features';
import { bearerToken, isRecord, nowSeconds, randomId, sseData, withFields, type JsonReply } from './http';
import type { Usage } from './tokens';

const SYSTEM_FINGERPRINT = 'fp_fake0001';
/** Models listed with this creation time (the real list has per-model Unix times). */
const MODELS_CREATED = 1_715_367_049;

function openAIError(
	status: number,
	message: string,
	type: string,
	code: string | null,
	headers?: Record<string, string>
): JsonReply {
	return { status, body: { error: { message, type, param: null, code } }, headers };
}

export const openAIErrors: ProviderErrors = {
	missingKey: () =>
		openAIError(
			401,
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.",
			'invalid_request_error',
			null
		),
	invalidKey: (masked) =>
		openAIError(
			401,
			`Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`,
			'invalid_request_error',
			'invalid_api_key'
		),
	forbidden: () =>
		openAIError(
			403,
			'Country, region, or territory not supported',
			'request_forbidden',
			'unsupported_country_region_territory'
		),
	rateLimited: (model, retryAfterSeconds) =>
		openAIError(
			429,
			`Rate limit reached for ${model ?? 'requests'} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in ${retryAfterSeconds}s.`,
			'requests',
			'rate_limit_exceeded',
			{
				'retry-after': String(retryAfterSeconds),
				'x-ratelimit-limit-requests': '3',
				'x-ratelimit-remaining-requests': '0',
				'x-ratelimit-reset-requests': `${retryAfterSeconds}s`
			}
		),
	quota: () =>
		openAIError(
			429,
			'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
			'insufficient_quota',
			'insufficient_quota'
		),
	serverError: () =>
		openAIError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error', null),
	unavailable: () =>
		openAIError(503, 'The engine is currently overloaded, please try again later.', 'server_error', null),
	modelNotFound: (model) =>
		openAIError(
			404,
			`The model \`${model}\` does not exist or you do not have access to it.`,
			'invalid_request_error',
			'model_not_found'
		),
	badRequest: (message) => openAIError(400, message, 'invalid_request_error', null),
	routeNotFound: (method, path) => openAIError(404, `Invalid URL (${method} ${path})`, 'invalid_request_error', null)
};

/** The text of a chat message's content: a string, or its parts joined (images as a note about them). */
export function contentText(content: unknown): string {
	if (typeof content === 'string') return content;
	if (!Array.isArray(content)) return '';
	return content.map(partText).join('');
}

function partText(part: unknown): string {
	if (!isRecord(part)) return '';
	if (typeof part.text === 'string') return part.text;
	if (part.type !== 'image_url' || !isRecord(part.image_url)) return '';
	const url = String(part.image_url.url);
	const data = /^data:([^;]+);base64,(.*)$/.exec(url);
	return data ? inlineImageNote(data[1], data[2]) : urlImageNote(url);
}

/** A message's problem the real API answers 400 to, if any. */
function messageProblem(records: Record<string, unknown>[]): string | undefined {
	const calledIds = new Set<string>();
	for (const [index, message] of records.entries()) {
		if (Array.isArray(message.tool_calls)) {
			for (const call of message.tool_calls) if (isRecord(call)) calledIds.add(String(call.id));
		}
		if (message.role === 'tool' && !calledIds.has(String(message.tool_call_id))) {
			return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
		}
		if (Array.isArray(message.content)) {
			for (const part of message.content) {
				if (
					isRecord(part) &&
					part.type === 'image_url' &&
					!(isRecord(part.image_url) && typeof part.image_url.url === 'string')
				) {
					return `Invalid type for 'messages[${index}].content[].image_url.url': expected a string.`;
				}
			}
		}
	}
	return undefined;
}

/** The tool call the scripted model makes, if any. */
function toolCallOf(body: Record<string, unknown>, records: Record<string, unknown>[], lastUserText: string) {
	const names = Array.isArray(body.tools)
		? body.tools.filter(isRecord).map((t) => (isRecord(t.function) ? String(t.function.name) : ''))
		: [];
	const choice = body.tool_choice;
	const forced = isRecord(choice) && isRecord(choice.function) ? String(choice.function.name) : undefined;
	const endsWithToolResult = records.at(-1)?.role === 'tool';
	return scriptedToolCall(names, { none: choice === 'none', forced }, endsWithToolResult, lastUserText, 'call_');
}

function jsonSchemaOf(format: unknown): unknown {
	if (!isRecord(format)) return undefined;
	if (format.type === 'json_object') return {};
	if (format.type === 'json_schema') return isRecord(format.json_schema) ? (format.json_schema.schema ?? {}) : {};
	return undefined;
}

/** Parse an OpenAI-style chat body; `errors` gives the dialect's own error shapes. */
export function parseOpenAIStyleChat(body: unknown, errors: ProviderErrors, alwaysUsage: boolean): ChatParse {
	if (!isRecord(body)) return { error: errors.badRequest('The request body must be a JSON object.') };
	if (typeof body.model !== 'string' || body.model === '') {
		return { error: errors.badRequest('you must provide a model parameter') };
	}
	const messages = body.messages;
	if (!Array.isArray(messages) || messages.length === 0) {
		return { error: errors.badRequest("Missing required parameter: 'messages'.") };
	}
	const records = messages.filter(isRecord);
	if (records.length !== messages.length || records.some((m) => typeof m.role !== 'string')) {
		return {
			error: errors.badRequest("Invalid value for 'messages': each message needs a 'role'.")
		};
	}
	const problem = messageProblem(records);
	if (problem) return { error: errors.badRequest(problem) };
	const last = records.at(-1);
	const lastUser = [...records].reverse().find((m) => m.role === 'user');
	const lastUserText =
		last?.role === 'tool' ? toolResultNote(contentText(last.content)) : lastUser ? contentText(lastUser.content) : '';
	const streamOptions = body.stream_options;
	const includeUsage = isRecord(streamOptions) && streamOptions.include_usage === true;
	const toolCall = toolCallOf(body, records, lastUserText);
	const jsonSchema = jsonSchemaOf(body.response_format);
	return {
		call: {
			model: body.model,
			stream: body.stream === true,
			promptTexts: records.map((m) => contentText(m.content)),
			lastUserText,
			includeUsage: alwaysUsage || includeUsage,
			...(toolCall ? { toolCall } : {}),
			...(jsonSchema === undefined ? {} : { jsonSchema })
		}
	};
}

/** The assistant message's tool_calls, as OpenAI (and OpenRouter) answer them. */
export function openAIToolCalls(call: ChatCall): Record<string, unknown>[] {
	const tool = call.toolCall;
	return tool ? [{ id: tool.id, type: 'function', function: { name: tool.name, arguments: tool.arguments } }] : [];
}

/** A tool call streamed as OpenAI does: id and name first, then the arguments in pieces. */
export function openAIToolCallDeltas(call: ChatCall, chunks: string[]): Record<string, unknown>[] {
	const tool = call.toolCall;
	if (!tool) return [];
	return [
		{ tool_calls: [{ index: 0, id: tool.id, type: 'function', function: { name: tool.name, arguments: '' } }] },
		...chunks.map((piece) => ({ tool_calls: [{ index: 0, function: { arguments: piece } }] }))
	];
}

export function openAIUsage(usage: Usage): Record<string, unknown> {
	return {
		prompt_tokens: usage.promptTokens,
		completion_tokens: usage.completionTokens,
		total_tokens: usage.promptTokens + usage.completionTokens,
		prompt_tokens_details: { cached_tokens: usage.cachedReadTokens ?? 0, audio_tokens: 0 },
		completion_tokens_details: {
			reasoning_tokens: usage.reasoningTokens ?? 0,
			audio_tokens: 0,
			accepted_prediction_tokens: 0,
			rejected_prediction_tokens: 0
		}
	};
}

function openAIStreamPlan(call: ChatCall, chunks: string[], usage: Usage | undefined): StreamPlan {
	const { model, includeUsage } = call;
	// Every chunk of one stream shares id, created and model.
	const base = {
		id: randomId('chatcmpl-', 29),
		object: 'chat.completion.chunk',
		created: nowSeconds(),
		model,
		service_tier: 'default',
		system_fingerprint: SYSTEM_FINGERPRINT
	};
	// With include_usage every chunk but the usage chunk carries `usage: null`; without, no field.
	const usageField = includeUsage ? { usage: null } : {};
	const chunk = (delta: Record<string, unknown>, finishReason: string | null): string =>
		sseData({
			...base,
			choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
			...usageField
		});
	const usageFrames = includeUsage && usage ? [sseData({ ...base, choices: [], usage: openAIUsage(usage) })] : [];
	return {
		head: [chunk({ role: 'assistant', content: '', refusal: null }, null)],
		content: call.toolCall
			? openAIToolCallDeltas(call, chunks).map((delta) => chunk(delta, null))
			: chunks.map((text) => chunk({ content: text }, null)),
		tail: [chunk({}, call.toolCall ? 'tool_calls' : 'stop'), ...usageFrames, 'data: [DONE]\n\n']
	};
}

function openAICompletion(call: ChatCall, reply: string, usage: Usage | undefined): unknown {
	const toolCalls = openAIToolCalls(call);
	return {
		id: randomId('chatcmpl-', 29),
		object: 'chat.completion',
		created: nowSeconds(),
		model: call.model,
		choices: [
			{
				index: 0,
				message:
					toolCalls.length > 0
						? { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: toolCalls }
						: { role: 'assistant', content: reply, refusal: null, annotations: [] },
				logprobs: null,
				finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop'
			}
		],
		...(usage ? { usage: openAIUsage(usage) } : {}),
		service_tier: 'default',
		system_fingerprint: SYSTEM_FINGERPRINT
	};
}

export const openAIDialect: Dialect = {
	provider: 'openai',
	prefix: '/openai',
	errors: openAIErrors,
	readKey: (req: IncomingMessage) => bearerToken(req),
	responseHeaders: () => ({
		'x-request-id': randomId('req_', 32),
		'openai-organization': 'org-fake'
	}),
	route(method, path) {
		if (method === 'POST' && path === '/v1/chat/completions') return { kind: 'chat' };
		if (method === 'GET' && path === '/v1/models') return { kind: 'models' };
		return undefined;
	},
	parseChat: (body) => parseOpenAIStyleChat(body, openAIErrors, false),
	completion: openAICompletion,
	streamPlan: openAIStreamPlan,
	malformedFrame: 'data: {"choices": [\n\n',
	malformedBody: '{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [',
	midstreamError: (_call, code) =>
		sseData({
			error: {
				message: 'The server had an error while processing your request. Sorry about that!',
				type: 'server_error',
				param: null,
				code: code ?? null
			}
		}),
	withErrorCode: (body, code) => withFields(body, 'error', { code }),
	listModels: () => ({
		object: 'list',
		data: fakeModelsOf('openai').map((m) => ({
			id: m.id,
			object: 'model',
			created: MODELS_CREATED,
			owned_by: 'system'
		}))
	})
};
