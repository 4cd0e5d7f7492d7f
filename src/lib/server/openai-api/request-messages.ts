import { z } from 'zod';
import { AppError } from '$lib/server/errors';
import type { ChatMessage, ContentPart, ImageSource, ToolCall } from '$lib/server/providers';
import { userText } from '$lib/server/validation';
import { formatMegabytes, readImageDataUrl } from '$lib/images';

/**
 * OpenAI Chat Completions `messages` as the engine's messages: text, `image_url` parts (https and
 * `data:` URLs), assistant `tool_calls` and `tool` messages. Audio, files and the legacy
 * `function` role are refused with a 400 naming the field.
 */

export const MAX_IMAGES = 20;
const MAX_IMAGE_URL_CHARS = 2048;

const messageText = userText(z.string(), 'Message content');

const contentPart = z.object({ type: z.string({ required_error: 'Each content part needs a type.' }) }).passthrough();

const toolCallSchema = z.object({
	id: z.string({ required_error: 'Each tool call needs an id.' }).min(1).max(256),
	type: z.literal('function', { errorMap: () => ({ message: 'Only tool calls of type "function" are supported.' }) }),
	function: z.object({
		name: z.string({ required_error: 'Each tool call needs a function name.' }).min(1).max(64),
		arguments: z.string({ invalid_type_error: 'function.arguments must be a JSON string.' })
	})
});

export const messageSchema = z
	.object({
		role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function'], {
			errorMap: () => ({ message: 'role must be system, developer, user, assistant or tool.' })
		}),
		content: z
			.union([messageText, z.array(contentPart)], {
				errorMap: () => ({ message: 'content must be a string or an array of content parts.' })
			})
			.nullish(),
		tool_calls: z.array(toolCallSchema).nullish(),
		tool_call_id: z.string({ invalid_type_error: 'tool_call_id must be a string.' }).max(256).nullish(),
		function_call: z.unknown().optional()
	})
	.passthrough();

export type ParsedMessage = z.output<typeof messageSchema>;

function invalid(param: string, message: string, reason = 'invalid_input'): AppError {
	return new AppError('bad_request', message, { reason, details: { param } });
}

/** A `data:` URL (inline bytes) or an https URL, checked for type and size. */
function imageSourceOf(url: unknown, at: string): ImageSource {
	if (typeof url !== 'string' || url === '') throw invalid(`${at}.image_url.url`, `${at}.image_url.url must be a URL.`);
	if (url.startsWith('data:')) {
		const image = readImageDataUrl(url);
		if (image.ok) return { kind: 'data', mediaType: image.mediaType, base64: image.base64 };
		const param = `${at}.image_url.url`;
		switch (image.problem) {
			case 'not_data_url':
				throw invalid(param, `${param} is not a base64 data: URL (data:image/png;base64,…).`);
			case 'unsupported_type':
				throw invalid(
					param,
					`Images must be PNG, JPEG, GIF or WebP; ${at} is ${(image.mediaType ?? '').slice(0, 60)}.`,
					'unsupported_image_type'
				);
			case 'too_large':
				throw invalid(
					param,
					`The image in ${at} is ${formatMegabytes(image.bytes ?? 0)}; images may be at most 5 MB.`,
					'image_too_large'
				);
			case 'empty':
				throw invalid(param, `The image in ${at} is empty.`);
		}
	}
	let parsed: URL | undefined;
	try {
		parsed = new URL(url);
	} catch {
		parsed = undefined;
	}
	if (!parsed || parsed.protocol !== 'https:' || url.length > MAX_IMAGE_URL_CHARS) {
		throw invalid(
			`${at}.image_url.url`,
			`${at}.image_url.url must be an https URL (at most ${MAX_IMAGE_URL_CHARS} characters) or a base64 data: URL.`,
			'invalid_image_url'
		);
	}
	return { kind: 'url', url };
}

const DETAILS: ReadonlySet<unknown> = new Set(['auto', 'low', 'high']);

/** The parts of one message: text always; images only where `allowImages`. */
function partsOf(parts: z.output<typeof contentPart>[], at: string, allowImages: boolean): ContentPart[] {
	return parts.map((part, index): ContentPart => {
		const partAt = `${at}.content.${index}`;
		if (part.type === 'text' || part.type === 'refusal') {
			const text = part.type === 'text' ? part.text : part.refusal;
			if (typeof text !== 'string') throw invalid(`${partAt}.${part.type}`, `${partAt}.${part.type} must be a string.`);
			if (text.includes('\u0000'))
				throw invalid(`${partAt}.${part.type}`, 'Message content cannot contain NUL characters (U+0000).');
			return { type: 'text', text };
		}
		if (part.type === 'image_url' && allowImages) {
			const imageUrl = part.image_url as { url?: unknown; detail?: unknown } | undefined;
			const detail = imageUrl?.detail;
			if (detail !== undefined && !DETAILS.has(detail)) {
				throw invalid(`${partAt}.image_url.detail`, `${partAt}.image_url.detail must be auto, low or high.`);
			}
			const image = imageSourceOf(imageUrl?.url, partAt);
			return { type: 'image', image: detail === 'low' || detail === 'high' ? { ...image, detail } : image };
		}
		const where = part.type === 'image_url' ? ' Images go in user messages only.' : '';
		throw invalid(
			partAt,
			`Content parts of type "${part.type.slice(0, 40)}" are not supported here (${partAt}).${where} Send text, and images as image_url parts of user messages.`,
			'unsupported_content'
		);
	});
}

const textOnly = (parts: ContentPart[]) => parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n');

/** OpenAI messages as the engine's; `developer` is a system message. */
export function toChatMessages(messages: ParsedMessage[]): { messages: ChatMessage[]; images: number } {
	const out: ChatMessage[] = [];
	const calledTools = new Map<string, string>();
	let images = 0;
	for (const [index, message] of messages.entries()) {
		const at = `messages.${index}`;
		if (message.role === 'function' || (message.function_call !== undefined && message.function_call !== null)) {
			throw invalid(
				message.role === 'function' ? `${at}.role` : `${at}.function_call`,
				`The legacy function-calling fields are not supported (${at}); use tools, tool_calls and tool messages.`,
				'unsupported_parameter'
			);
		}
		const content = message.content;
		const parts = Array.isArray(content) ? partsOf(content, at, message.role === 'user') : undefined;
		if (message.role === 'user') {
			if (content === undefined || content === null)
				throw invalid(`${at}.content`, `messages[${index}].content is required.`);
			const withImages = parts?.some((p) => p.type === 'image') === true;
			images += parts?.filter((p) => p.type === 'image').length ?? 0;
			out.push({ role: 'user', content: parts ? (withImages ? parts : textOnly(parts)) : String(content) });
			continue;
		}
		const text = parts ? textOnly(parts) : typeof content === 'string' ? content : '';
		if (message.role === 'assistant') {
			const toolCalls: ToolCall[] = (message.tool_calls ?? []).map((call) => {
				calledTools.set(call.id, call.function.name);
				return { id: call.id, name: call.function.name, arguments: call.function.arguments };
			});
			out.push(
				toolCalls.length > 0 ? { role: 'assistant', content: text, toolCalls } : { role: 'assistant', content: text }
			);
		} else if (message.role === 'tool') {
			const id = message.tool_call_id;
			if (!id) throw invalid(`${at}.tool_call_id`, `messages[${index}] is a tool message without a tool_call_id.`);
			const name = calledTools.get(id);
			if (name === undefined) {
				throw invalid(
					`${at}.tool_call_id`,
					`messages[${index}].tool_call_id "${id.slice(0, 60)}" answers no tool call of an earlier assistant message.`
				);
			}
			out.push({ role: 'tool', toolCallId: id, name, content: text });
		} else {
			if (content === undefined || content === null)
				throw invalid(`${at}.content`, `messages[${index}].content is required.`);
			out.push({ role: 'system', content: text });
		}
	}
	if (!out.some((m) => m.role !== 'system')) {
		throw invalid('messages', 'messages must contain at least one user message.');
	}
	if (images > MAX_IMAGES) {
		throw invalid(
			'messages',
			`A request may carry at most ${MAX_IMAGES} images; this one has ${images}.`,
			'too_many_images'
		);
	}
	return { messages: out, images };
}
