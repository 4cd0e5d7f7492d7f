import { z } from 'zod';
import { AppError } from '$lib/server/errors';
import type { CatalogModel } from '$lib/server/catalog';
import {
	anthropicOutputSchema,
	geminiSchema,
	imageUrlMediaType,
	type ChatMessage,
	type GenerationOptions,
	type ResponseFormat,
	type ToolChoice,
	type ToolDefinition
} from '$lib/server/providers';

/**
 * The request fields beyond the messages (tools, output format, sampling, reasoning), and what each
 * provider cannot honour. A field that would change the answer and that the model's provider lacks
 * is a 400 naming it, never silently dropped. The checks go by the model's provider, whichever key
 * then serves it, so a request is answered the same way through the user's key and the app's.
 */

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TOOLS = 128;

const functionTool = z.object({
	type: z.literal('function', { errorMap: () => ({ message: 'Only tools of type "function" are supported.' }) }),
	function: z.object({
		name: z.string().regex(TOOL_NAME, 'A function name is 1 to 64 letters, digits, underscores or hyphens.'),
		description: z.string().max(10_000).optional(),
		parameters: z.record(z.unknown()).optional(),
		strict: z.boolean().nullish()
	})
});

const toolChoice = z.union(
	[
		z.enum(['none', 'auto', 'required']),
		z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })
	],
	{ errorMap: () => ({ message: 'tool_choice must be none, auto, required or {type: "function", function: {name}}.' }) }
);

const responseFormat = z.discriminatedUnion(
	'type',
	[
		z.object({ type: z.literal('text') }),
		z.object({ type: z.literal('json_object') }),
		z.object({
			type: z.literal('json_schema'),
			json_schema: z.object({
				name: z.string().regex(TOOL_NAME, 'json_schema.name is 1 to 64 letters, digits, underscores or hyphens.'),
				description: z.string().optional(),
				schema: z.record(z.unknown()).optional(),
				strict: z.boolean().nullish()
			})
		})
	],
	{
		errorMap: () => ({
			message: 'response_format must be {type: "text"}, {type: "json_object"} or {type: "json_schema", json_schema}.'
		})
	}
);

export const optionFields = {
	tools: z.array(functionTool).max(MAX_TOOLS, `At most ${MAX_TOOLS} tools.`).nullish(),
	tool_choice: toolChoice.nullish(),
	parallel_tool_calls: z.boolean({ invalid_type_error: 'parallel_tool_calls must be true or false.' }).nullish(),
	response_format: responseFormat.nullish(),
	top_p: z
		.number({ invalid_type_error: 'top_p must be a number from 0 to 1.' })
		.min(0, 'top_p must be a number from 0 to 1.')
		.max(1, 'top_p must be a number from 0 to 1.')
		.nullish(),
	stop: z
		.union([z.string().min(1), z.array(z.string().min(1)).max(4)], {
			errorMap: () => ({ message: 'stop must be a string or a list of at most 4 strings.' })
		})
		.nullish(),
	seed: z.number({ invalid_type_error: 'seed must be a whole number.' }).int('seed must be a whole number.').nullish(),
	user: z
		.string({ invalid_type_error: 'user must be a string.' })
		.max(256, 'user is at most 256 characters.')
		.nullish(),
	reasoning_effort: z
		.enum(['none', 'minimal', 'low', 'medium', 'high'], {
			errorMap: () => ({ message: 'reasoning_effort must be none, minimal, low, medium or high.' })
		})
		.nullish()
};

type OptionInput = { [K in keyof typeof optionFields]?: z.output<(typeof optionFields)[K]> } & {
	temperature?: number | null;
};

function refuse(param: string, message: string, reason = 'unsupported_parameter'): AppError {
	return new AppError('bad_request', message, { reason, details: { param } });
}

function toolChoiceOf(choice: z.output<typeof toolChoice>, tools: ToolDefinition[] | undefined): ToolChoice {
	if (typeof choice === 'string') {
		if (choice === 'required' && !tools?.length)
			throw refuse('tool_choice', 'tool_choice "required" needs tools.', 'invalid_value');
		return choice;
	}
	const name = choice.function.name;
	if (!tools?.some((tool) => tool.name === name)) {
		throw refuse(
			'tool_choice',
			`tool_choice names "${name.slice(0, 64)}", which is not one of the tools.`,
			'invalid_value'
		);
	}
	return { name };
}

function responseFormatOf(format: z.output<typeof responseFormat>): ResponseFormat {
	if (format.type !== 'json_schema') return format;
	const { name, description, schema, strict } = format.json_schema;
	return {
		type: 'json_schema',
		name,
		schema: schema ?? {},
		...(description === undefined ? {} : { description }),
		...(strict === undefined || strict === null ? {} : { strict })
	};
}

/** The options as the adapters take them. */
export function generationOptionsOf(input: OptionInput): GenerationOptions {
	const tools = input.tools?.map(({ function: f }): ToolDefinition => ({
		name: f.name,
		...(f.description === undefined ? {} : { description: f.description }),
		...(f.parameters === undefined ? {} : { parameters: f.parameters }),
		...(f.strict === undefined || f.strict === null ? {} : { strict: f.strict })
	}));
	const options: GenerationOptions = {};
	if (input.temperature !== undefined && input.temperature !== null) options.temperature = input.temperature;
	if (input.top_p !== undefined && input.top_p !== null) options.topP = input.top_p;
	if (input.stop !== undefined && input.stop !== null)
		options.stop = typeof input.stop === 'string' ? [input.stop] : input.stop;
	if (input.seed !== undefined && input.seed !== null) options.seed = input.seed;
	if (input.user) options.user = input.user;
	const choice = input.tool_choice ? toolChoiceOf(input.tool_choice, tools) : undefined;
	// Without tools, a tool choice or parallel_tool_calls means nothing (and OpenAI would refuse them).
	if (tools && tools.length > 0) {
		options.tools = tools;
		if (choice) options.toolChoice = choice;
		if (input.parallel_tool_calls !== undefined && input.parallel_tool_calls !== null) {
			options.parallelToolCalls = input.parallel_tool_calls;
		}
	}
	if (input.response_format && input.response_format.type !== 'text') {
		options.responseFormat = responseFormatOf(input.response_format);
	}
	if (input.reasoning_effort) options.reasoningEffort = input.reasoning_effort;
	return options;
}

/** Anthropic's smallest thinking budget: with less output room, extended thinking cannot run. */
export const ANTHROPIC_MIN_THINKING_TOKENS = 1024;

/** Refuses what `model`'s provider cannot do, naming the field; also images to a text-only model. */
export function refuseWhatTheModelLacks(
	model: CatalogModel,
	options: GenerationOptions,
	facts: { messages: ChatMessage[]; images: number; maxOutputTokens: number | undefined }
): void {
	if (facts.images > 0 && !model.input.includes('image')) {
		throw refuse(
			'messages',
			`${model.displayName} does not take images. Send text only, or pick a model that takes images (see GET /api/v1/models).`,
			'model_not_vision'
		);
	}
	const thinking = options.reasoningEffort !== undefined && options.reasoningEffort !== 'none';
	if (model.provider === 'anthropic') {
		// API version 2026-10-21 has no sampling parameters: only their defaults can be honoured.
		if (options.temperature !== undefined && options.temperature !== 1) {
			throw refuse(
				'temperature',
				`${model.displayName} does not take temperature (Anthropic's API removed it); leave it out.`
			);
		}
		if (options.topP !== undefined && options.topP !== 1) {
			throw refuse('top_p', `${model.displayName} does not take top_p (Anthropic's API removed it); leave it out.`);
		}
		if (options.seed !== undefined) throw refuse('seed', `Anthropic models do not take a seed; leave seed out.`);
		refuseWhatAnthropicFormatsLack(options.responseFormat);
		// Anthropic continues a tool-using turn with thinking only with its signed thinking blocks back,
		// which OpenAI's format has no place for.
		if (thinking && facts.messages.at(-1)?.role === 'tool') {
			throw refuse(
				'reasoning_effort',
				'Anthropic models cannot continue a tool call with extended thinking through this API (their thinking blocks must be sent back, which OpenAI’s format cannot carry); leave reasoning_effort out after a tool call.'
			);
		}
		if (thinking && facts.maxOutputTokens !== undefined && facts.maxOutputTokens <= ANTHROPIC_MIN_THINKING_TOKENS) {
			throw refuse(
				'max_completion_tokens',
				`With reasoning_effort, Anthropic models need max_completion_tokens above ${ANTHROPIC_MIN_THINKING_TOKENS} (their smallest thinking budget).`,
				'invalid_value'
			);
		}
	}
	if (model.provider === 'anthropic' || model.provider === 'google') refuseToolCallsNotObjects(facts.messages);
	if (model.provider === 'google') refuseWhatGeminiLacks(options, facts.messages);
}

/** Anthropic's structured outputs take closed schemas only: "any JSON object" cannot be said. */
function refuseWhatAnthropicFormatsLack(format: ResponseFormat | undefined): void {
	if (format?.type === 'json_object') {
		throw refuse(
			'response_format',
			'Anthropic models have no JSON mode without a schema; send response_format {"type": "json_schema"} with the schema.',
			'unsupported_value'
		);
	}
	if (format?.type !== 'json_schema') return;
	try {
		anthropicOutputSchema(format.schema);
	} catch {
		throw refuse(
			'response_format.json_schema.schema',
			'Anthropic models need a type (or anyOf, oneOf, allOf, enum, const) on every schema in response_format.',
			'unsupported_schema'
		);
	}
}

/** Anthropic and Gemini take a tool call's arguments as a JSON object, not as text. */
function refuseToolCallsNotObjects(messages: ChatMessage[]): void {
	for (const [index, message] of messages.entries()) {
		if (message.role !== 'assistant' || !message.toolCalls) continue;
		for (const [callIndex, call] of message.toolCalls.entries()) {
			let args: unknown;
			try {
				args = JSON.parse(call.arguments);
			} catch {
				args = undefined;
			}
			if (typeof args !== 'object' || args === null || Array.isArray(args)) {
				throw refuse(
					`messages.${index}.tool_calls.${callIndex}.function.arguments`,
					`messages[${index}].tool_calls[${callIndex}].function.arguments must be a JSON object for this model.`,
					'invalid_value'
				);
			}
		}
	}
}

function refuseWhatGeminiLacks(options: GenerationOptions, messages: ChatMessage[]): void {
	if (options.parallelToolCalls === false) {
		throw refuse(
			'parallel_tool_calls',
			'Gemini models cannot be told to call one tool at a time; leave parallel_tool_calls out.'
		);
	}
	// Converting the schemas here answers a schema Gemini cannot express before any call.
	options.tools?.forEach(
		(tool, i) => tool.parameters && geminiSchema(tool.parameters, `tools.${i}.function.parameters`)
	);
	if (options.responseFormat?.type === 'json_schema') {
		geminiSchema(options.responseFormat.schema, 'response_format.json_schema.schema');
	}
	for (const [index, message] of messages.entries()) {
		if (message.role !== 'user' || typeof message.content === 'string') continue;
		for (const [partIndex, part] of message.content.entries()) {
			if (part.type === 'image' && part.image.kind === 'url' && !imageUrlMediaType(part.image.url)) {
				throw refuse(
					`messages.${index}.content.${partIndex}.image_url.url`,
					`Gemini models need an image URL's type: messages[${index}].content[${partIndex}] should end in .png, .jpg, .jpeg, .gif or .webp, or be sent as a data: URL.`,
					'invalid_image_url'
				);
			}
		}
	}
}
