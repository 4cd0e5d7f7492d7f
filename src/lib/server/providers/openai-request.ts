import type {
	ChatCompletionContentPart,
	ChatCompletionMessageParam,
	ChatCompletionToolChoiceOption
} from 'openai/resources/chat/completions';
import type { ChatCall, ChatMessage, ContentPart, ProviderEvent } from './types';
import { isRecord } from './call';

/**
 * Our messages and options back in OpenAI's Chat Completions shape: for OpenAI and OpenRouter the
 * request goes through as the client sent it (the parser only checked it).
 */

function imageUrl(part: ContentPart & { type: 'image' }): string {
	const { image } = part;
	return image.kind === 'url' ? image.url : `data:${image.mediaType};base64,${image.base64}`;
}

function userContent(content: string | ContentPart[]): string | ChatCompletionContentPart[] {
	if (typeof content === 'string') return content;
	return content.map((part): ChatCompletionContentPart =>
		part.type === 'text'
			? { type: 'text', text: part.text }
			: {
					type: 'image_url',
					image_url: { url: imageUrl(part), ...(part.image.detail ? { detail: part.image.detail } : {}) }
				}
	);
}

export function openAIMessages(messages: ChatMessage[]): ChatCompletionMessageParam[] {
	return messages.map((m): ChatCompletionMessageParam => {
		switch (m.role) {
			case 'system':
				return { role: 'system', content: m.content };
			case 'user':
				return { role: 'user', content: userContent(m.content) };
			case 'assistant':
				return m.toolCalls?.length
					? {
							role: 'assistant',
							content: m.content === '' ? null : m.content,
							tool_calls: m.toolCalls.map((c) => ({
								id: c.id,
								type: 'function',
								function: { name: c.name, arguments: c.arguments }
							}))
						}
					: { role: 'assistant', content: m.content };
			case 'tool':
				return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
		}
	});
}

function toolChoiceOf(choice: NonNullable<ChatCall['toolChoice']>): ChatCompletionToolChoiceOption {
	return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

/** Everything but model, messages and the token budget, under OpenAI's names. */
export function openAIOptionFields(call: ChatCall): Record<string, unknown> {
	const format = call.responseFormat;
	return {
		...(call.temperature === undefined ? {} : { temperature: call.temperature }),
		...(call.topP === undefined ? {} : { top_p: call.topP }),
		...(call.stop === undefined ? {} : { stop: call.stop }),
		...(call.seed === undefined ? {} : { seed: call.seed }),
		...(call.user === undefined ? {} : { user: call.user }),
		...(call.tools
			? {
					tools: call.tools.map((t) => ({
						type: 'function',
						function: {
							name: t.name,
							...(t.description === undefined ? {} : { description: t.description }),
							...(t.parameters === undefined ? {} : { parameters: t.parameters }),
							...(t.strict === undefined ? {} : { strict: t.strict })
						}
					}))
				}
			: {}),
		...(call.toolChoice === undefined ? {} : { tool_choice: toolChoiceOf(call.toolChoice) }),
		...(call.parallelToolCalls === undefined ? {} : { parallel_tool_calls: call.parallelToolCalls }),
		...(format === undefined
			? {}
			: format.type === 'json_schema'
				? {
						response_format: {
							type: 'json_schema',
							json_schema: {
								name: format.name,
								schema: format.schema,
								...(format.description === undefined ? {} : { description: format.description }),
								...(format.strict === undefined ? {} : { strict: format.strict })
							}
						}
					}
				: { response_format: { type: format.type } }),
		...(call.reasoningEffort === undefined ? {} : { reasoning_effort: call.reasoningEffort })
	};
}

/** The tool-call pieces of a stream delta or a whole message, as our events. */
export function* toolCallEvents(toolCalls: unknown, streamed: boolean): Generator<ProviderEvent> {
	if (!Array.isArray(toolCalls)) return;
	for (const [position, call] of toolCalls.entries()) {
		if (!isRecord(call)) continue;
		const fn = isRecord(call.function) ? call.function : {};
		const index = streamed && typeof call.index === 'number' ? call.index : position;
		yield {
			type: 'tool_call',
			index,
			...(typeof call.id === 'string' ? { id: call.id } : {}),
			...(typeof fn.name === 'string' ? { name: fn.name } : {}),
			arguments: typeof fn.arguments === 'string' ? fn.arguments : ''
		};
	}
}
