import { z } from 'zod';
import { AppError } from '$lib/server/errors';
import { getModel, listModels } from '$lib/server/catalog';
import type { ChatMessage } from '$lib/server/providers';
import { parseInput, userText } from '$lib/server/validation';

/**
 * `POST /api/v1/chat/completions` request bodies, as OpenAI's Chat Completions API takes them,
 * mapped to what the chat engine (`startChat`) takes. Text chat only: anything that would change
 * what the caller gets back and that we cannot honour (tools, several choices, images, JSON mode,
 * logprobs) is a 400 naming the field, because silently ignoring it would break agents. Harmless
 * sampling knobs (`top_p`, penalties, `stop`, `seed`, `user`, `metadata`, `store`, ...) are
 * accepted and ignored, as are fields we do not know (newer SDKs send more of them).
 */

/** What one request asks of the chat engine. */
export interface CompletionRequest {
	/** The public model id as the client sent it, `provider/model`. */
	model: string;
	messages: ChatMessage[];
	stream: boolean;
	/** `stream_options.include_usage`: a last chunk with `usage` (and `usage: null` on the others). */
	includeUsage: boolean;
	maxOutputTokens: number | undefined;
	temperature: number | undefined;
}

const MODEL_MESSAGE = 'model is required: a model id such as "openai/gpt-4o-mini" (see GET /api/v1/models).';

const messageText = userText(z.string(), 'Message content');

const contentPart = z
	.object({
		type: z.string({ required_error: 'Each content part needs a type.' }),
		text: messageText.optional()
	})
	.passthrough();

const message = z
	.object({
		role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function'], {
			errorMap: () => ({ message: 'role must be system, developer, user or assistant.' })
		}),
		content: z
			.union([messageText, z.array(contentPart)], {
				errorMap: () => ({ message: 'content must be a string or an array of {type: "text", text} parts.' })
			})
			.nullish(),
		tool_calls: z.array(z.unknown()).nullish(),
		function_call: z.unknown().optional()
	})
	.passthrough();

const wholeTokens = (field: string) =>
	z
		.number({ invalid_type_error: `${field} must be a whole number of tokens.` })
		.int(`${field} must be a whole number of tokens.`)
		.min(1, `${field} must be at least 1.`)
		.max(10_000_000, `${field} is too large.`)
		.nullish();

export const completionRequestSchema = z.object({
	model: userText(
		z.string({ required_error: MODEL_MESSAGE, invalid_type_error: MODEL_MESSAGE }).min(1, MODEL_MESSAGE).max(200),
		'model'
	),
	messages: z
		.array(message, {
			required_error: 'messages is required: a list of {role, content} messages.',
			invalid_type_error: 'messages must be a list of {role, content} messages.'
		})
		.min(1, 'messages must contain at least one message.'),
	stream: z.boolean({ invalid_type_error: 'stream must be true or false.' }).nullish(),
	stream_options: z
		.object({ include_usage: z.boolean({ invalid_type_error: 'include_usage must be true or false.' }).nullish() })
		.passthrough()
		.nullish(),
	max_tokens: wholeTokens('max_tokens'),
	max_completion_tokens: wholeTokens('max_completion_tokens'),
	temperature: z
		.number({ invalid_type_error: 'temperature must be a number from 0 to 2.' })
		.min(0, 'temperature must be a number from 0 to 2.')
		.max(2, 'temperature must be a number from 0 to 2.')
		.nullish(),
	n: z.number({ invalid_type_error: 'n must be 1.' }).int('n must be 1.').nullish(),
	// Checked below: present means the caller expects behaviour we do not have.
	tools: z.unknown().optional(),
	functions: z.unknown().optional(),
	tool_choice: z.unknown().optional(),
	function_call: z.unknown().optional(),
	response_format: z.unknown().optional(),
	logprobs: z.boolean({ invalid_type_error: 'logprobs must be true or false.' }).nullish(),
	modalities: z.array(z.string()).nullish(),
	audio: z.unknown().optional()
});

type ParsedRequest = z.output<typeof completionRequestSchema>;

function unsupported(param: string, message: string, reason = 'unsupported_parameter'): AppError {
	return new AppError('bad_request', message, { reason, details: { param } });
}

const isPresent = (value: unknown) => value !== undefined && value !== null;

/** Refuses the features this API cannot honour, naming the field (OpenAI's `param`). */
function refuseUnsupported(input: ParsedRequest): void {
	const toolsMessage =
		'Tools and function calling are not supported by this API: it serves text chat only. Send the request without tools.';
	if (isPresent(input.tools) && !(Array.isArray(input.tools) && input.tools.length === 0))
		throw unsupported('tools', toolsMessage);
	if (isPresent(input.functions) && !(Array.isArray(input.functions) && input.functions.length === 0))
		throw unsupported('functions', toolsMessage);
	if (isPresent(input.tool_choice) && input.tool_choice !== 'none') throw unsupported('tool_choice', toolsMessage);
	if (isPresent(input.function_call) && input.function_call !== 'none')
		throw unsupported('function_call', toolsMessage);
	if (isPresent(input.n) && input.n !== 1)
		throw unsupported('n', 'n must be 1: this API returns one choice per request.', 'unsupported_value');
	if (isPresent(input.response_format)) {
		const type = (input.response_format as { type?: unknown }).type;
		if (type !== 'text')
			throw unsupported(
				'response_format',
				'Only response_format {"type": "text"} is supported; JSON mode and structured outputs are not.',
				'unsupported_value'
			);
	}
	if (input.logprobs === true)
		throw unsupported('logprobs', 'logprobs are not supported by this API; leave logprobs out or false.');
	if (input.modalities?.some((modality) => modality !== 'text'))
		throw unsupported('modalities', 'Only text output is supported: modalities must be ["text"].', 'unsupported_value');
	if (isPresent(input.audio)) throw unsupported('audio', 'Audio output is not supported by this API.');
}

/** OpenAI messages as the engine's `{role, content}` text messages; `developer` is a system message. */
function toChatMessages(messages: ParsedRequest['messages']): ChatMessage[] {
	const out: ChatMessage[] = [];
	for (const [index, message] of messages.entries()) {
		const at = `messages.${index}`;
		if (message.role === 'tool' || message.role === 'function') {
			throw unsupported(
				`${at}.role`,
				`Tool and function messages are not supported by this API (messages[${index}] has role "${message.role}"): it serves text chat only.`
			);
		}
		if ((message.tool_calls && message.tool_calls.length > 0) || isPresent(message.function_call)) {
			throw unsupported(
				`${at}.tool_calls`,
				`Tool calls are not supported by this API (messages[${index}] carries them): it serves text chat only.`
			);
		}
		let text: string;
		if (typeof message.content === 'string') {
			text = message.content;
		} else if (Array.isArray(message.content)) {
			const parts: string[] = [];
			for (const [partIndex, part] of message.content.entries()) {
				const partText = (part as { text?: unknown }).text;
				if (part.type !== 'text') {
					throw unsupported(
						`${at}.content.${partIndex}`,
						`Only text content is supported: messages[${index}].content[${partIndex}] has type "${part.type.slice(0, 40)}". Send images, audio and files as text, or use the provider directly.`,
						'unsupported_content'
					);
				}
				if (typeof partText !== 'string') {
					throw new AppError('bad_request', `messages[${index}].content[${partIndex}].text must be a string.`, {
						reason: 'invalid_input',
						details: { param: `${at}.content.${partIndex}.text` }
					});
				}
				parts.push(partText);
			}
			text = parts.join('\n');
		} else if (message.role === 'assistant') {
			// An assistant turn without content (it only called tools elsewhere) contributes nothing.
			text = '';
		} else {
			throw new AppError('bad_request', `messages[${index}].content is required.`, {
				reason: 'invalid_input',
				details: { param: `${at}.content` }
			});
		}
		out.push({ role: message.role === 'developer' ? 'system' : message.role, content: text });
	}
	if (!out.some((m) => m.role !== 'system')) {
		throw new AppError('bad_request', 'messages must contain at least one user message.', {
			reason: 'invalid_input',
			details: { param: 'messages' }
		});
	}
	return out;
}

/**
 * Unknown model ids are a 400 `model_not_found`, as the issue asks (OpenAI answers 404). A bare
 * provider model name (`gpt-4o-mini`) gets the public id it probably meant.
 */
export function requireKnownModel(id: string): void {
	if (getModel(id)) return;
	const shown = id.length > 80 ? `${id.slice(0, 80)}…` : id;
	const guess = listModels().find((m) => m.id.endsWith(`/${id}`) || m.providerModel === id);
	const hint = guess ? ` Did you mean "${guess.id}"?` : '';
	throw new AppError(
		'bad_request',
		`Unknown model "${shown}".${hint} Model ids are provider/model; see GET /api/v1/models for the list.`,
		{ reason: 'model_not_found', details: { param: 'model' } }
	);
}

/** Validates an OpenAI Chat Completions request body (400s name the field) and maps it. */
export function parseCompletionRequest(body: unknown): CompletionRequest {
	if (typeof body !== 'object' || body === null || Array.isArray(body)) {
		throw new AppError('bad_request', 'The request body must be a JSON object.', { reason: 'invalid_input' });
	}
	const input = parseInput(completionRequestSchema, body);
	refuseUnsupported(input);
	const messages = toChatMessages(input.messages);
	requireKnownModel(input.model);
	const stream = input.stream === true;
	return {
		model: input.model,
		messages,
		stream,
		includeUsage: stream && input.stream_options?.include_usage === true,
		maxOutputTokens: input.max_completion_tokens ?? input.max_tokens ?? undefined,
		temperature: input.temperature ?? undefined
	};
}
