// Tools, images and JSON output in the fakes: what a scripted model does with them, shared by
// every dialect (each parses and answers in its own wire format).
import { isRecord, randomId } from './http';

/** The call a fake model makes: the first offered tool (or the forced one), with the user's words. */
export interface ScriptedToolCall {
	id: string;
	name: string;
	/** JSON text, as OpenAI sends it. */
	arguments: string;
}

/**
 * Whether the model calls a tool, and which: only when tools are offered, not refused
 * (tool choice none), and the conversation does not end with a tool's result (then it answers).
 */
export function scriptedToolCall(
	toolNames: readonly string[],
	choice: { none: boolean; forced?: string },
	endsWithToolResult: boolean,
	lastUserText: string,
	idPrefix: string
): ScriptedToolCall | undefined {
	const name = choice.forced ?? toolNames[0];
	if (name === undefined || choice.none || endsWithToolResult) return undefined;
	return { id: randomId(idPrefix, 24), name, arguments: JSON.stringify({ query: lastUserText }) };
}

/** What the echo says about an inline image: its type and decoded size. */
export function inlineImageNote(mediaType: unknown, base64: unknown): string {
	const data = typeof base64 === 'string' ? base64 : '';
	return `[image ${String(mediaType)} ${Buffer.from(data, 'base64').byteLength} bytes]`;
}

export function urlImageNote(url: unknown): string {
	return `[image ${String(url)}]`;
}

export function toolResultNote(content: string): string {
	return `tool result: ${content}`;
}

/** A value that satisfies a simple JSON schema (objects, arrays, scalars, enums): the fake's JSON answer. */
export function exampleOf(schema: unknown): unknown {
	if (!isRecord(schema)) return {};
	if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
	const type = String(Array.isArray(schema.type) ? schema.type[0] : (schema.type ?? 'object')).toLowerCase();
	switch (type) {
		case 'object': {
			const properties = isRecord(schema.properties) ? schema.properties : {};
			return Object.fromEntries(Object.entries(properties).map(([key, sub]) => [key, exampleOf(sub)]));
		}
		case 'array':
			return [exampleOf(schema.items)];
		case 'string':
			return 'fake';
		case 'integer':
		case 'number':
			return 1;
		case 'boolean':
			return true;
		default:
			return null;
	}
}
