// Fake Anthropic Messages API: base URL `${url}/anthropic` (the paths carry /v1).
import type { IncomingMessage } from 'node:http';
import { fakeModelsOf } from './catalog';
import type { ChatCall, ChatParse, Dialect, ProviderErrors, StreamPlan } from './engine';
import { bearerToken, headerValue, isRecord, randomId, sseEvent, withFields, type JsonReply } from './http';
import { contentText } from './openai';
import { inlineImageNote, scriptedToolCall, toolResultNote, urlImageNote } from './features';
import type { Usage } from './tokens';

/** From this API version on, sampling parameters are rejected (PROVIDERS.md). */
const SAMPLING_REMOVED_IN = '2026-10-21';
const REMOVED_SAMPLING_PARAMS = ['temperature', 'top_p', 'top_k'] as const;
const MODELS_CREATED_AT = '2025-05-22T00:00:00Z';

function anthropicError(status: number, type: string, message: string, headers?: Record<string, string>): JsonReply {
	return {
		status,
		body: { type: 'error', error: { type, message }, request_id: randomId('req_011', 21) },
		headers
	};
}

export const anthropicErrors: ProviderErrors = {
	missingKey: () => anthropicError(401, 'authentication_error', 'x-api-key header is required'),
	invalidKey: () => anthropicError(401, 'authentication_error', 'invalid x-api-key'),
	forbidden: () =>
		anthropicError(403, 'permission_error', 'Your API key does not have permission to use the specified resource.'),
	rateLimited: (_model, retryAfterSeconds) =>
		anthropicError(
			429,
			'rate_limit_error',
			'This request would exceed the rate limit for your organization of 50 requests per minute. Please try again later.',
			{
				'retry-after': String(retryAfterSeconds),
				'anthropic-ratelimit-requests-limit': '50',
				'anthropic-ratelimit-requests-remaining': '0'
			}
		),
	quota: () =>
		anthropicError(
			402,
			'billing_error',
			'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.'
		),
	serverError: () => anthropicError(500, 'api_error', 'Internal server error'),
	unavailable: () => anthropicError(529, 'overloaded_error', 'Overloaded'),
	modelNotFound: (model) => anthropicError(404, 'not_found_error', `model: ${model}`),
	badRequest: (message) => anthropicError(400, 'invalid_request_error', message),
	routeNotFound: () => anthropicError(404, 'not_found_error', 'Not Found')
};

/** `system` is a string or an array of text blocks. */
function systemText(system: unknown): string | undefined {
	if (system === undefined || system === null) return undefined;
	return contentText(system);
}

function parseAnthropicChat(body: unknown, req: IncomingMessage): ChatParse {
	const bad = (message: string): ChatParse => ({ error: anthropicErrors.badRequest(message) });
	const version = headerValue(req, 'anthropic-version');
	if (!version) return bad('anthropic-version: header is required');
	if (!isRecord(body)) return bad('The request body must be a JSON object.');
	if (version >= SAMPLING_REMOVED_IN) {
		const removed = REMOVED_SAMPLING_PARAMS.find((name) => name in body);
		if (removed) return bad(`${removed}: Extra inputs are not permitted`);
	}
	if (typeof body.model !== 'string' || body.model === '') return bad('model: Field required');
	if (typeof body.max_tokens !== 'number') return bad('max_tokens: Field required');
	const messages = body.messages;
	if (!Array.isArray(messages) || messages.length === 0) return bad('messages: Field required');
	const records = messages.filter(isRecord);
	if (records.length !== messages.length) return bad('messages: Input should be a valid list of messages');
	const problem = requestProblem(body, records);
	if (problem) return bad(problem);
	const system = systemText(body.system);
	const lastUser = [...records].reverse().find((m) => m.role === 'user');
	const lastUserText = lastUser ? blocksText(lastUser.content) : '';
	const blocks = Array.isArray(lastUser?.content) ? lastUser.content.filter(isRecord) : [];
	const endsWithToolResult = records.at(-1) === lastUser && blocks.some((b) => b.type === 'tool_result');
	const tools = Array.isArray(body.tools) ? body.tools.filter(isRecord).map((t) => String(t.name)) : [];
	const choice = isRecord(body.tool_choice) ? body.tool_choice : {};
	const toolCall = scriptedToolCall(
		tools,
		{ none: choice.type === 'none', forced: choice.type === 'tool' ? String(choice.name) : undefined },
		endsWithToolResult,
		lastUserText,
		'toolu_01'
	);
	const format =
		isRecord(body.output_config) && isRecord(body.output_config.format) ? body.output_config.format : undefined;
	return {
		call: {
			model: body.model,
			stream: body.stream === true,
			promptTexts: [...(system === undefined ? [] : [system]), ...records.map((m) => blocksText(m.content))],
			lastUserText,
			includeUsage: true,
			...(toolCall ? { toolCall } : {}),
			...(format ? { jsonSchema: format.schema ?? {} } : {})
		}
	};
}

/** Text of a message's content blocks; images and tool results as notes about them. */
function blocksText(content: unknown): string {
	if (!Array.isArray(content)) return contentText(content);
	return content
		.map((block) => {
			if (!isRecord(block)) return '';
			if (block.type === 'text') return String(block.text);
			if (block.type === 'tool_result') return toolResultNote(contentText(block.content));
			if (block.type !== 'image' || !isRecord(block.source)) return '';
			const { source } = block;
			return source.type === 'base64' ? inlineImageNote(source.media_type, source.data) : urlImageNote(source.url);
		})
		.join('');
}

/** What the real API refuses about tools, images and thinking, as its 400 messages say. */
function requestProblem(body: Record<string, unknown>, records: Record<string, unknown>[]): string | undefined {
	for (const [index, tool] of (Array.isArray(body.tools) ? body.tools : []).entries()) {
		if (!isRecord(tool) || !isRecord(tool.input_schema) || tool.input_schema.type !== 'object') {
			return `tools.${index}.custom.input_schema.type: Input should be 'object'`;
		}
	}
	// Structured outputs take closed objects only (the SDK's transformJSONSchema closes them).
	const format = isRecord(body.output_config) ? body.output_config.format : undefined;
	const schema = isRecord(format) ? format.schema : undefined;
	if (isRecord(schema) && schema.type === 'object' && schema.additionalProperties !== false) {
		return "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false";
	}
	const thinking = body.thinking;
	if (isRecord(thinking) && thinking.type === 'enabled') {
		const budget = Number(thinking.budget_tokens);
		if (!(budget >= 1024)) return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
		if (!(budget < Number(body.max_tokens))) return '`max_tokens` must be greater than `thinking.budget_tokens`.';
	}
	for (const [index, message] of records.entries()) {
		const blocks = Array.isArray(message.content) ? message.content.filter(isRecord) : [];
		const previous = records[index - 1];
		const used = new Set(
			(Array.isArray(previous?.content) ? previous.content.filter(isRecord) : [])
				.filter((b) => b.type === 'tool_use')
				.map((b) => String(b.id))
		);
		for (const [blockIndex, block] of blocks.entries()) {
			if (block.type === 'tool_result' && !used.has(String(block.tool_use_id))) {
				return `messages.${index}.content.${blockIndex}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
			}
			if (block.type === 'image') {
				const source = isRecord(block.source) ? block.source : {};
				const valid =
					source.type === 'base64'
						? typeof source.data === 'string' &&
							['image/png', 'image/jpeg', 'image/gif', 'image/webp'].includes(String(source.media_type))
						: source.type === 'url' && typeof source.url === 'string';
				if (!valid)
					return `messages.${index}.content.${blockIndex}.image.source: Input does not match any of the expected sources`;
			}
		}
	}
	return undefined;
}

function anthropicUsage(usage: Usage, outputTokens: number): Record<string, unknown> {
	return {
		// Anthropic's input_tokens leaves out what was read from or written to the prompt cache.
		input_tokens: usage.promptTokens - (usage.cachedReadTokens ?? 0) - (usage.cacheWriteTokens ?? 0),
		cache_creation_input_tokens: usage.cacheWriteTokens ?? 0,
		cache_read_input_tokens: usage.cachedReadTokens ?? 0,
		output_tokens: outputTokens,
		service_tier: 'standard'
	};
}

function messageShell(call: ChatCall, content: unknown[]): Record<string, unknown> {
	return {
		id: randomId('msg_01', 22),
		type: 'message',
		role: 'assistant',
		model: call.model,
		content,
		stop_reason: null,
		stop_sequence: null
	};
}

function anthropicCompletion(call: ChatCall, reply: string, usage: Usage | undefined): unknown {
	const tool = call.toolCall;
	const content = tool
		? [{ type: 'tool_use', id: tool.id, name: tool.name, input: JSON.parse(tool.arguments) as unknown }]
		: [{ type: 'text', text: reply }];
	return {
		...messageShell(call, content),
		stop_reason: tool ? 'tool_use' : 'end_turn',
		...(usage ? { usage: anthropicUsage(usage, usage.completionTokens) } : {})
	};
}

/**
 * Without usage ('no_usage'), `usage` is sent as an empty object: the SDK's MessageStream
 * dereferences `usage` on message_start and message_delta, so the object itself must exist.
 */
function anthropicStreamPlan(call: ChatCall, chunks: string[], usage: Usage | undefined): StreamPlan {
	const startUsage = usage ? anthropicUsage(usage, 1) : {};
	const deltaUsage = usage ? { output_tokens: usage.completionTokens } : {};
	const tool = call.toolCall;
	return {
		head: [
			sseEvent('message_start', {
				type: 'message_start',
				message: { ...messageShell(call, []), usage: startUsage }
			}),
			sseEvent('content_block_start', {
				type: 'content_block_start',
				index: 0,
				content_block: tool ? { type: 'tool_use', id: tool.id, name: tool.name, input: {} } : { type: 'text', text: '' }
			}),
			sseEvent('ping', { type: 'ping' })
		],
		content: chunks.map((text) =>
			sseEvent('content_block_delta', {
				type: 'content_block_delta',
				index: 0,
				delta: tool ? { type: 'input_json_delta', partial_json: text } : { type: 'text_delta', text }
			})
		),
		tail: [
			sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }),
			sseEvent('message_delta', {
				type: 'message_delta',
				delta: { stop_reason: tool ? 'tool_use' : 'end_turn', stop_sequence: null },
				usage: deltaUsage
			}),
			sseEvent('message_stop', { type: 'message_stop' })
		]
	};
}

export const anthropicDialect: Dialect = {
	provider: 'anthropic',
	prefix: '/anthropic',
	errors: anthropicErrors,
	// SDK 0.x sends x-api-key, SDK 1.x sends Authorization: Bearer; accept both.
	readKey: (req) => headerValue(req, 'x-api-key') ?? bearerToken(req),
	responseHeaders: () => ({
		'request-id': randomId('req_011', 21),
		'anthropic-organization-id': 'org-fake'
	}),
	route(method, path) {
		if (method === 'POST' && path === '/v1/messages') return { kind: 'chat' };
		if (method === 'GET' && path === '/v1/models') return { kind: 'models' };
		return undefined;
	},
	parseChat: (body, _route, req) => parseAnthropicChat(body, req),
	completion: anthropicCompletion,
	streamPlan: anthropicStreamPlan,
	malformedFrame: 'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {\n\n',
	malformedBody: '{"id": "msg_broken", "type": "message", "content": [',
	midstreamError: (_call, code) =>
		sseEvent('error', {
			type: 'error',
			error: { type: code ?? 'overloaded_error', message: 'Overloaded' },
			request_id: randomId('req_011', 21)
		}),
	withErrorCode: (body, code) => withFields(body, 'error', { type: code }),
	listModels: () => {
		const data = fakeModelsOf('anthropic').map((m) => ({
			type: 'model',
			id: m.id,
			display_name: m.displayName,
			created_at: MODELS_CREATED_AT
		}));
		return {
			data,
			has_more: false,
			first_id: data[0]?.id ?? null,
			last_id: data.at(-1)?.id ?? null
		};
	}
};
