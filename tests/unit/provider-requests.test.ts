import { describe, expect, it } from 'vitest';
import { isAppError } from '$lib/server/errors';
import type { ChatCall, ChatMessage } from '$lib/server/providers';
import { anthropicRequest, thinkingBudget } from '$lib/server/providers/anthropic-request';
import { geminiRequest, geminiSchema } from '$lib/server/providers/google-request';

/** How our messages and options become Anthropic and Gemini requests (the wire shapes the fakes check). */

const call = (messages: ChatMessage[], extra: Partial<ChatCall> = {}): ChatCall => ({
	apiKey: 'unused',
	model: 'm',
	messages,
	maxOutputTokens: 4000,
	stream: false,
	signal: new AbortController().signal,
	timeoutMs: 1000,
	...extra
});

const parallel: ChatMessage[] = [
	{ role: 'system', content: 'Be brief.' },
	{ role: 'user', content: 'Weather and time in Paris?' },
	{
		role: 'assistant',
		content: '',
		toolCalls: [
			{ id: 'a', name: 'weather', arguments: '{"city":"Paris"}' },
			{ id: 'b', name: 'time', arguments: '{}' }
		]
	},
	{ role: 'tool', toolCallId: 'a', name: 'weather', content: 'Sunny' },
	{ role: 'tool', toolCallId: 'b', name: 'time', content: '10:00' },
	{ role: 'user', content: 'Thanks, and tomorrow?' }
];

describe('the Anthropic request', () => {
	it('answers parallel tool calls in one user turn, results first, then the next question', () => {
		const request = anthropicRequest(call(parallel));
		expect(request.system).toBe('Be brief.');
		expect(request.messages).toEqual([
			{ role: 'user', content: 'Weather and time in Paris?' },
			{
				role: 'assistant',
				content: [
					{ type: 'tool_use', id: 'a', name: 'weather', input: { city: 'Paris' } },
					{ type: 'tool_use', id: 'b', name: 'time', input: {} }
				]
			},
			{
				role: 'user',
				content: [
					{ type: 'tool_result', tool_use_id: 'a', content: 'Sunny' },
					{ type: 'tool_result', tool_use_id: 'b', content: '10:00' },
					{ type: 'text', text: 'Thanks, and tomorrow?' }
				]
			}
		]);
	});

	it('maps tool choices, one call at a time, and a json_schema format', () => {
		const tools = [{ name: 'weather' }];
		const req = (extra: Partial<ChatCall>) =>
			anthropicRequest(call([{ role: 'user', content: 'hi' }], { tools, ...extra }));
		expect(req({}).tools).toEqual([{ name: 'weather', input_schema: { type: 'object', properties: {} } }]);
		expect(req({}).tool_choice).toBeUndefined();
		expect(req({ toolChoice: 'required' }).tool_choice).toEqual({ type: 'any' });
		expect(req({ toolChoice: { name: 'weather' }, parallelToolCalls: false }).tool_choice).toEqual({
			type: 'tool',
			name: 'weather',
			disable_parallel_tool_use: true
		});
		expect(req({ parallelToolCalls: false }).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
		expect(req({ toolChoice: 'none' }).tool_choice).toEqual({ type: 'none' });
		// The SDK's translation: closed objects, constraints it cannot enforce moved into descriptions.
		expect(
			req({
				responseFormat: {
					type: 'json_schema',
					name: 'x',
					schema: { type: 'object', properties: { n: { type: 'string', minLength: 2 } } }
				}
			}).output_config
		).toEqual({
			format: {
				type: 'json_schema',
				schema: {
					type: 'object',
					properties: { n: { type: 'string', description: '{minLength: 2}' } },
					additionalProperties: false
				}
			}
		});
	});

	it('gives extended thinking a budget within Anthropic’s bounds, below max_tokens', () => {
		expect(thinkingBudget('none', 4000)).toBeUndefined();
		expect(thinkingBudget('minimal', 4000)).toBe(1024);
		expect(thinkingBudget('medium', 4000)).toBe(2000);
		expect(thinkingBudget('high', 64_000)).toBe(32_000);
		expect(thinkingBudget('high', 1100)).toBe(1024);
	});
});

describe('the Gemini request', () => {
	it('answers parallel calls with their function responses together, by name', () => {
		const request = geminiRequest(call(parallel));
		expect(request.systemInstruction).toEqual({ role: 'system', parts: [{ text: 'Be brief.' }] });
		expect(request.contents).toEqual([
			{ role: 'user', parts: [{ text: 'Weather and time in Paris?' }] },
			{
				role: 'model',
				parts: [
					{ functionCall: { name: 'weather', args: { city: 'Paris' } } },
					{ functionCall: { name: 'time', args: {} } }
				]
			},
			{
				role: 'user',
				parts: [
					{ functionResponse: { name: 'weather', response: { output: 'Sunny' } } },
					{ functionResponse: { name: 'time', response: { output: '10:00' } } }
				]
			},
			{ role: 'user', parts: [{ text: 'Thanks, and tomorrow?' }] }
		]);
	});

	it('sends images inline or by URL with their type, and a named tool as the only allowed one', () => {
		const request = geminiRequest(
			call(
				[
					{
						role: 'user',
						content: [
							{ type: 'image', image: { kind: 'data', mediaType: 'image/webp', base64: 'AAAA' } },
							{ type: 'image', image: { kind: 'url', url: 'https://x.test/a/cat.JPG?size=2' } }
						]
					}
				],
				{ tools: [{ name: 'weather' }], toolChoice: { name: 'weather' } }
			)
		);
		expect(request.contents[0]?.parts).toEqual([
			{ inlineData: { mimeType: 'image/webp', data: 'AAAA' } },
			{ fileData: { mimeType: 'image/jpeg', fileUri: 'https://x.test/a/cat.JPG?size=2' } }
		]);
		expect(request.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] } });
	});

	it('keeps the JSON Schema Gemini understands and refuses what it would lose', () => {
		expect(
			geminiSchema(
				{
					type: 'object',
					title: 'dropped',
					additionalProperties: false,
					properties: {
						name: { type: ['string', 'null'] },
						tags: { type: 'array', items: { type: 'string', enum: ['a'] } }
					},
					required: ['name']
				},
				'p'
			)
		).toEqual({
			type: 'object',
			properties: {
				name: { type: 'string', nullable: true },
				tags: { type: 'array', items: { type: 'string', enum: ['a'] } }
			},
			required: ['name']
		});
		try {
			geminiSchema({ type: 'object', properties: { x: { $ref: '#/$defs/x' } } }, 'response_format.json_schema.schema');
			throw new Error('expected a refusal');
		} catch (error) {
			expect(isAppError(error) && error.details).toEqual({ param: 'response_format.json_schema.schema.x' });
		}
	});
});
