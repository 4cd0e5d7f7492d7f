import type {
	ContentBlockParam,
	MessageCreateParamsBase,
	MessageParam,
	Tool,
	ToolChoice
} from '@anthropic-ai/sdk/resources/messages/messages';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import { isRecord } from './call';
import type { ChatCall, ChatMessage, ContentPart, ReasoningEffort } from './types';

/**
 * Our OpenAI-shaped messages and options as an Anthropic Messages request: tool calls become
 * `tool_use` blocks, tool messages `tool_result` blocks in a user turn, images `image` blocks
 * (base64 or URL source), reasoning_effort an extended-thinking budget, a json_schema response
 * format an `output_config.format` JSON schema. Sampling parameters are not sent (API version 2026-10-21
 * removed them; the API refuses values other than their defaults before the call).
 */

/** Thinking budget as a share of the output budget: OpenRouter's documented mapping of effort. */
const EFFORT_SHARE: Record<Exclude<ReasoningEffort, 'none'>, number> = {
	minimal: 0.1,
	low: 0.2,
	medium: 0.5,
	high: 0.8
};
const MIN_THINKING_TOKENS = 1024;
const MAX_THINKING_TOKENS = 32_000;

/** The extended-thinking budget for an effort, within Anthropic's bounds and below max_tokens. */
export function thinkingBudget(effort: ReasoningEffort, maxTokens: number): number | undefined {
	if (effort === 'none' || maxTokens <= MIN_THINKING_TOKENS) return undefined;
	const share = Math.floor(maxTokens * EFFORT_SHARE[effort]);
	return Math.min(Math.max(share, MIN_THINKING_TOKENS), MAX_THINKING_TOKENS, maxTokens - 1);
}

function contentBlocks(content: string | ContentPart[]): ContentBlockParam[] {
	if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
	return content.map((part): ContentBlockParam =>
		part.type === 'text'
			? { type: 'text', text: part.text }
			: {
					type: 'image',
					source:
						part.image.kind === 'url'
							? { type: 'url', url: part.image.url }
							: {
									type: 'base64',
									media_type: part.image.mediaType as 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp',
									data: part.image.base64
								}
				}
	);
}

/** The JSON object a model wrote as arguments (the API checked it is one before the call). */
function toolInput(argumentsText: string): Record<string, unknown> {
	try {
		const input: unknown = JSON.parse(argumentsText);
		return isRecord(input) ? input : {};
	} catch {
		return {};
	}
}

/** Tool results join the user turn after the tool calls, results first, as the API requires. */
function anthropicMessages(messages: ChatMessage[]): MessageParam[] {
	const out: MessageParam[] = [];
	const appendToUser = (blocks: ContentBlockParam[]) => {
		const last = out.at(-1);
		if (last?.role === 'user' && Array.isArray(last.content)) last.content.push(...blocks);
		else out.push({ role: 'user', content: blocks });
	};
	for (const m of messages) {
		if (m.role === 'system') continue;
		if (m.role === 'tool') {
			appendToUser([{ type: 'tool_result', tool_use_id: m.toolCallId, content: m.content }]);
		} else if (m.role === 'user') {
			const last = out.at(-1);
			const afterToolResults =
				last?.role === 'user' && Array.isArray(last.content) && last.content.some((b) => b.type === 'tool_result');
			if (afterToolResults) appendToUser(contentBlocks(m.content));
			else out.push({ role: 'user', content: typeof m.content === 'string' ? m.content : contentBlocks(m.content) });
		} else if (m.toolCalls?.length) {
			out.push({
				role: 'assistant',
				content: [
					...contentBlocks(m.content),
					...m.toolCalls.map((c): ContentBlockParam => ({
						type: 'tool_use',
						id: c.id,
						name: c.name,
						input: toolInput(c.arguments)
					}))
				]
			});
		} else {
			out.push({ role: 'assistant', content: m.content });
		}
	}
	return out;
}

function toolChoiceOf(call: ChatCall): ToolChoice | undefined {
	const single = call.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
	const choice = call.toolChoice;
	if (choice === 'none') return { type: 'none' };
	if (choice === 'required') return { type: 'any', ...single };
	if (typeof choice === 'object') return { type: 'tool', name: choice.name, ...single };
	if (choice === 'auto' || call.parallelToolCalls === false) return { type: 'auto', ...single };
	return undefined;
}

/** A JSON Schema as Anthropic's structured outputs take it; throws an Error for one it cannot take. */
export function anthropicOutputSchema(schema: Record<string, unknown>): Record<string, unknown> {
	const strict: Record<string, unknown> = transformJSONSchema(schema);
	return strict;
}

const EMPTY_SCHEMA: Tool.InputSchema = { type: 'object', properties: {} };

export function anthropicRequest(call: ChatCall): MessageCreateParamsBase {
	const system = call.messages
		.filter((m) => m.role === 'system')
		.map((m) => m.content)
		.join('\n\n');
	const tools = call.tools?.map((t): Tool => ({
		name: t.name,
		...(t.description === undefined ? {} : { description: t.description }),
		input_schema: t.parameters ? { ...t.parameters, type: 'object' } : EMPTY_SCHEMA,
		...(t.strict === undefined ? {} : { strict: t.strict })
	}));
	const toolChoice = tools ? toolChoiceOf(call) : undefined;
	const budget = call.reasoningEffort ? thinkingBudget(call.reasoningEffort, call.maxOutputTokens) : undefined;
	const format = call.responseFormat;
	// The SDK's own translation to the subset structured outputs take (closed objects, unsupported
	// constraints moved into descriptions); json_object has no honest schema and is refused earlier.
	const schema = format?.type === 'json_schema' ? anthropicOutputSchema(format.schema) : undefined;
	return {
		model: call.model,
		max_tokens: call.maxOutputTokens,
		...(system === '' ? {} : { system }),
		messages: anthropicMessages(call.messages),
		...(tools ? { tools } : {}),
		...(toolChoice ? { tool_choice: toolChoice } : {}),
		...(call.stop ? { stop_sequences: call.stop } : {}),
		...(call.user ? { metadata: { user_id: call.user } } : {}),
		...(budget === undefined ? {} : { thinking: { type: 'enabled', budget_tokens: budget } }),
		...(schema ? { output_config: { format: { type: 'json_schema', schema } } } : {})
	};
}
