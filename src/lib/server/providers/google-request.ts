import { randomBytes } from 'node:crypto';
import type { Content, GenerateContentRequest, Part } from '@google/generative-ai';
import { AppError } from '$lib/server/errors';
import { isRecord } from './call';
import type { ChatCall, ContentPart, ReasoningEffort } from './types';

/**
 * Our OpenAI-shaped messages and options as a Gemini generateContent request: tools become
 * `functionDeclarations`, tool calls `functionCall` parts, tool messages `functionResponse` parts,
 * images `inlineData` (data: URLs) or `fileData` (https URLs), response_format
 * `responseMimeType`/`responseSchema`, reasoning_effort `thinkingConfig.thinkingBudget`.
 */

/** Gemini's Schema is an OpenAPI subset: these keywords carry over, others are dropped. */
const SCHEMA_KEYS: ReadonlySet<string> = new Set([
	'type',
	'format',
	'description',
	'nullable',
	'enum',
	'properties',
	'required',
	'items',
	'minItems',
	'maxItems',
	'minimum',
	'maximum',
	'anyOf',
	'propertyOrdering'
]);
/** Keywords whose meaning would be lost by dropping them. */
const UNSUPPORTED_KEYS = ['$ref', '$defs', 'definitions', 'oneOf', 'allOf', 'not', 'if', 'patternProperties'];

/** A JSON Schema as Gemini's Schema; an AppError (400) naming `param` for what it cannot express. */
export function geminiSchema(schema: Record<string, unknown>, param: string): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(schema)) {
		if (UNSUPPORTED_KEYS.includes(key)) {
			throw new AppError(
				'bad_request',
				`Gemini models take a subset of JSON Schema without "${key}" (${param}); inline or simplify the schema.`,
				{ reason: 'unsupported_schema', details: { param } }
			);
		}
		if (!SCHEMA_KEYS.has(key)) continue;
		if (key === 'type' && Array.isArray(value)) {
			const types = value.filter((t) => t !== 'null');
			if (types.length !== 1) {
				throw new AppError('bad_request', `Gemini models take one type per schema (${param}); use anyOf.`, {
					reason: 'unsupported_schema',
					details: { param }
				});
			}
			out.type = types[0];
			if (types.length < value.length) out.nullable = true;
		} else if (key === 'properties' && isRecord(value)) {
			out.properties = Object.fromEntries(
				Object.entries(value).map(([name, sub]) => [name, isRecord(sub) ? geminiSchema(sub, `${param}.${name}`) : sub])
			);
		} else if (key === 'items' && isRecord(value)) {
			out.items = geminiSchema(value, `${param}.items`);
		} else if (key === 'anyOf' && Array.isArray(value)) {
			out.anyOf = value.map((sub, i) => (isRecord(sub) ? geminiSchema(sub, `${param}.anyOf.${i}`) : sub));
		} else {
			out[key] = value;
		}
	}
	return out;
}

const EXTENSION_TYPES: Record<string, string> = {
	png: 'image/png',
	jpg: 'image/jpeg',
	jpeg: 'image/jpeg',
	gif: 'image/gif',
	webp: 'image/webp'
};

/** `fileData` needs a MIME type; an https image URL says it by its extension, or not at all. */
export function imageUrlMediaType(url: string): string | undefined {
	const extension = /\.([a-z]+)$/i.exec(new URL(url).pathname)?.[1]?.toLowerCase();
	return extension === undefined ? undefined : EXTENSION_TYPES[extension];
}

function partsOf(content: string | ContentPart[]): Part[] {
	if (typeof content === 'string') return [{ text: content }];
	return content.map((part): Part => {
		if (part.type === 'text') return { text: part.text };
		const { image } = part;
		if (image.kind === 'data') return { inlineData: { mimeType: image.mediaType, data: image.base64 } };
		return { fileData: { mimeType: imageUrlMediaType(image.url) ?? 'image/jpeg', fileUri: image.url } };
	});
}

function argsOf(text: string): object {
	try {
		const args: unknown = JSON.parse(text);
		return isRecord(args) ? args : {};
	} catch {
		return {};
	}
}

function contentsOf(call: ChatCall): Content[] {
	const out: Content[] = [];
	for (const m of call.messages) {
		if (m.role === 'system') continue;
		if (m.role === 'tool') {
			// Several results of one turn answer together, in one user content.
			const part: Part = { functionResponse: { name: m.name, response: { output: m.content } } };
			const last = out.at(-1);
			if (last?.role === 'user' && last.parts.every((p) => p.functionResponse)) last.parts.push(part);
			else out.push({ role: 'user', parts: [part] });
		} else if (m.role === 'user') {
			out.push({ role: 'user', parts: partsOf(m.content) });
		} else {
			const calls: Part[] = (m.toolCalls ?? []).map((c) => ({
				functionCall: { name: c.name, args: argsOf(c.arguments) }
			}));
			out.push({
				role: 'model',
				parts: [...(m.content === '' && calls.length > 0 ? [] : [{ text: m.content }]), ...calls]
			});
		}
	}
	return out;
}

/** Gemini 2.5 Flash's largest thinking budget; the share of the output budget follows OpenRouter's mapping. */
const MAX_THINKING_TOKENS = 24_576;
const EFFORT_SHARE: Record<Exclude<ReasoningEffort, 'none'>, number> = {
	minimal: 0.1,
	low: 0.2,
	medium: 0.5,
	high: 0.8
};

export function geminiThinkingBudget(effort: ReasoningEffort, maxOutputTokens: number): number {
	if (effort === 'none') return 0;
	return Math.min(Math.max(Math.floor(maxOutputTokens * EFFORT_SHARE[effort]), 128), MAX_THINKING_TOKENS);
}

function toolConfigOf(call: ChatCall) {
	const choice = call.toolChoice;
	if (choice === undefined) return undefined;
	if (typeof choice === 'object')
		return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.name] } };
	return { functionCallingConfig: { mode: choice === 'required' ? 'ANY' : choice === 'none' ? 'NONE' : 'AUTO' } };
}

export function geminiRequest(call: ChatCall): GenerateContentRequest {
	const system = call.messages
		.filter((m) => m.role === 'system')
		.map((m) => m.content)
		.join('\n\n');
	const format = call.responseFormat;
	const toolConfig = call.tools ? toolConfigOf(call) : undefined;
	const generationConfig = {
		maxOutputTokens: call.maxOutputTokens,
		...(call.temperature === undefined ? {} : { temperature: call.temperature }),
		...(call.topP === undefined ? {} : { topP: call.topP }),
		...(call.stop === undefined ? {} : { stopSequences: call.stop }),
		...(call.seed === undefined ? {} : { seed: call.seed }),
		...(format ? { responseMimeType: 'application/json' } : {}),
		...(format?.type === 'json_schema'
			? { responseSchema: geminiSchema(format.schema, 'response_format.json_schema.schema') }
			: {}),
		...(call.reasoningEffort === undefined
			? {}
			: { thinkingConfig: { thinkingBudget: geminiThinkingBudget(call.reasoningEffort, call.maxOutputTokens) } })
	};
	const request = {
		contents: contentsOf(call),
		...(system === '' ? {} : { systemInstruction: { role: 'system', parts: [{ text: system }] } }),
		...(call.tools
			? {
					tools: [
						{
							functionDeclarations: call.tools.map((t, i) => ({
								name: t.name,
								...(t.description === undefined ? {} : { description: t.description }),
								...(t.parameters ? { parameters: geminiSchema(t.parameters, `tools.${i}.function.parameters`) } : {})
							}))
						}
					]
				}
			: {}),
		...(toolConfig ? { toolConfig } : {}),
		generationConfig
	};
	// The SDK's types lag the API (seed, thinkingConfig) and type schemas narrowly; the JSON is the API's.
	return request as unknown as GenerateContentRequest;
}

/** Gemini gives function calls no id; the client needs one to answer with. */
export function newToolCallId(): string {
	return `call_${randomBytes(12).toString('hex')}`;
}
