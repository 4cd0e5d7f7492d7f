import { z } from 'zod';
import { AppError } from '$lib/server/errors';
import { getModel, listModels } from '$lib/server/catalog';
import type { ChatMessage, GenerationOptions } from '$lib/server/providers';
import { parseInput, userText } from '$lib/server/validation';
import { messageSchema, toChatMessages } from './request-messages';
import { generationOptionsOf, optionFields, refuseWhatTheModelLacks } from './request-options';

/**
 * `POST /api/v1/chat/completions` request bodies, as OpenAI's Chat Completions API takes them,
 * mapped to what the chat engine (`startChat`) takes: messages with images and tool calls, tools,
 * output formats, sampling and reasoning options. What would change the answer and cannot be
 * honoured (several choices, logprobs, audio, a parameter the model's provider lacks) is a 400
 * naming the field, because silently ignoring it would break agents. Fields that never change the
 * answer (`metadata`, `store`, penalties OpenAI-compatible providers take...) and fields we do not
 * know are accepted (newer SDKs send more of them); see docs/api.md.
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
	options: GenerationOptions;
}

const MODEL_MESSAGE = 'model is required: a model id such as "openai/gpt-4o-mini" (see GET /api/v1/models).';

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
		.array(messageSchema, {
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
	...optionFields,
	// Checked below: present means the caller expects behaviour we do not have.
	functions: z.unknown().optional(),
	function_call: z.unknown().optional(),
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
	const legacy = 'The legacy function-calling fields are not supported; use tools and tool_choice.';
	if (isPresent(input.functions) && !(Array.isArray(input.functions) && input.functions.length === 0))
		throw unsupported('functions', legacy);
	if (isPresent(input.function_call) && input.function_call !== 'none') throw unsupported('function_call', legacy);
	if (isPresent(input.n) && input.n !== 1)
		throw unsupported('n', 'n must be 1: this API returns one choice per request.', 'unsupported_value');
	if (input.logprobs === true)
		throw unsupported('logprobs', 'logprobs are not supported by this API; leave logprobs out or false.');
	if (input.modalities?.some((modality) => modality !== 'text'))
		throw unsupported('modalities', 'Only text output is supported: modalities must be ["text"].', 'unsupported_value');
	if (isPresent(input.audio)) throw unsupported('audio', 'Audio output is not supported by this API.');
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
	const { messages, images } = toChatMessages(input.messages);
	requireKnownModel(input.model);
	const model = getModel(input.model);
	const maxOutputTokens = input.max_completion_tokens ?? input.max_tokens ?? undefined;
	const options = generationOptionsOf(input);
	if (model) refuseWhatTheModelLacks(model, options, { messages, images, maxOutputTokens });
	const stream = input.stream === true;
	return {
		model: input.model,
		messages,
		stream,
		includeUsage: stream && input.stream_options?.include_usage === true,
		maxOutputTokens,
		options
	};
}
