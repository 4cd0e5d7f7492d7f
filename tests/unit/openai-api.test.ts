import { describe, expect, it } from 'vitest';
import { getModel } from '$lib/server/catalog';
import { AppError, httpErrorOf, isAppError } from '$lib/server/errors';
import { readJsonBody as readBody } from '$lib/server/http';
import { createLogger } from '$lib/server/log';
import {
	chunkBody,
	contentChunkWriter,
	completionBody,
	completionMeta,
	completionResponse,
	completionStream,
	MAX_BODY_BYTES,
	modelListBody,
	parseCompletionRequest
} from '$lib/server/openai-api';
import type { ChatSession, FinalUsage, ModelOption, SessionEvent } from '$lib/server/routing';
import { schemaErrors } from '../helpers/json-schema';

/** The API reads bodies with its own limit. */
const readJsonBody = (request: Request) => readBody(request, MAX_BODY_BYTES);

const user = (content: unknown) => ({ role: 'user', content });
const request = (extra: Record<string, unknown> = {}) => ({
	model: 'openai/gpt-4o-mini',
	messages: [user('Hello')],
	...extra
});

/** The AppError a call throws, for asserting its status, reason and OpenAI `param`. */
function refusal(call: () => unknown): {
	status: number;
	reason: string | undefined;
	param: string | null;
	message: string;
} {
	try {
		call();
	} catch (error) {
		if (!isAppError(error)) throw error;
		return {
			status: error.status,
			reason: error.reason,
			param: httpErrorOf(error).body.error.param,
			message: error.message
		};
	}
	throw new Error('expected the call to throw');
}

describe('parseCompletionRequest', () => {
	it('maps OpenAI messages to text chat messages, developer as system', () => {
		const parsed = parseCompletionRequest({
			model: 'anthropic/claude-sonnet-4',
			messages: [
				{ role: 'developer', content: 'Be brief.' },
				{ role: 'system', content: [{ type: 'text', text: 'Answer in English.' }] },
				{
					role: 'user',
					content: [
						{ type: 'text', text: 'Line one' },
						{ type: 'text', text: 'line two' }
					],
					name: 'ann'
				},
				{ role: 'assistant', content: null },
				{ role: 'user', content: 'Go on' }
			]
		});
		expect(parsed.messages).toEqual([
			{ role: 'system', content: 'Be brief.' },
			{ role: 'system', content: 'Answer in English.' },
			{ role: 'user', content: 'Line one\nline two' },
			{ role: 'assistant', content: '' },
			{ role: 'user', content: 'Go on' }
		]);
		expect(parsed).toMatchObject({ model: 'anthropic/claude-sonnet-4', stream: false, includeUsage: false });
	});

	it('takes max_completion_tokens over max_tokens, and include_usage only when streaming', () => {
		expect(parseCompletionRequest(request({ max_tokens: 50 })).maxOutputTokens).toBe(50);
		expect(parseCompletionRequest(request({ max_tokens: 50, max_completion_tokens: 20 })).maxOutputTokens).toBe(20);
		expect(parseCompletionRequest(request({ temperature: 0.2 })).options.temperature).toBe(0.2);
		expect(parseCompletionRequest(request({ stream: true, stream_options: { include_usage: true } }))).toMatchObject({
			stream: true,
			includeUsage: true
		});
		expect(parseCompletionRequest(request({ stream: false, stream_options: { include_usage: true } }))).toMatchObject({
			stream: false,
			includeUsage: false
		});
	});

	it('accepts and ignores harmless parameters and ones it does not know', () => {
		const parsed = parseCompletionRequest(
			request({
				top_p: 0.9,
				presence_penalty: 0.5,
				frequency_penalty: 0.1,
				stop: ['\n\n'],
				seed: 42,
				user: 'someone',
				metadata: { a: 'b' },
				store: false,
				logprobs: false,
				parallel_tool_calls: false,
				tools: [],
				tool_choice: 'none',
				response_format: { type: 'text' },
				n: 1,
				modalities: ['text'],
				some_future_field: { x: 1 }
			})
		);
		expect(parsed.messages).toEqual([{ role: 'user', content: 'Hello' }]);
		// Without tools, tool_choice and parallel_tool_calls mean nothing and are not sent on.
		expect(parsed.options).toEqual({ topP: 0.9, stop: ['\n\n'], seed: 42, user: 'someone' });
	});

	const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
	const tool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } };
	const called = {
		role: 'assistant',
		content: null,
		tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]
	};

	it('maps images, tool calls, tool results and options to the engine', () => {
		const parsed = parseCompletionRequest(
			request({
				messages: [
					user([
						{ type: 'text', text: 'What is this?' },
						{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1PX}`, detail: 'low' } },
						{ type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } }
					]),
					called,
					{ role: 'tool', tool_call_id: 'call_1', content: 'Sunny' }
				],
				tools: [tool],
				tool_choice: { type: 'function', function: { name: 'get_weather' } },
				parallel_tool_calls: false,
				response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } },
				top_p: 0.5,
				stop: 'END',
				seed: 7,
				user: 'u-1',
				reasoning_effort: 'low'
			})
		);
		expect(parsed.messages).toEqual([
			{
				role: 'user',
				content: [
					{ type: 'text', text: 'What is this?' },
					{ type: 'image', image: { kind: 'data', mediaType: 'image/png', base64: PNG_1PX, detail: 'low' } },
					{ type: 'image', image: { kind: 'url', url: 'https://example.com/cat.jpg' } }
				]
			},
			{
				role: 'assistant',
				content: '',
				toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }]
			},
			{ role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: 'Sunny' }
		]);
		expect(parsed.options).toEqual({
			tools: [{ name: 'get_weather', parameters: { type: 'object' } }],
			toolChoice: { name: 'get_weather' },
			parallelToolCalls: false,
			responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object' } },
			topP: 0.5,
			stop: ['END'],
			seed: 7,
			user: 'u-1',
			reasoningEffort: 'low'
		});
	});

	it.each([
		['legacy functions', { functions: [{ name: 'f' }] }, 'functions', /legacy function-calling/],
		['n = 2', { n: 2 }, 'n', /n must be 1/],
		['logprobs', { logprobs: true }, 'logprobs', /logprobs/],
		['audio output', { modalities: ['text', 'audio'] }, 'modalities', /text output/],
		['a custom tool', { tools: [{ type: 'custom', custom: { name: 'f' } }] }, 'tools.0.type', /function/],
		[
			'a tool choice naming no tool',
			{ tools: [tool], tool_choice: { type: 'function', function: { name: 'x' } } },
			'tool_choice',
			/not one of the tools/
		],
		[
			'an unknown reasoning effort',
			{ reasoning_effort: 'max' },
			'reasoning_effort',
			/none, minimal, low, medium or high/
		],
		[
			'an http image',
			{ messages: [user([{ type: 'image_url', image_url: { url: 'http://x.test/a.png' } }])] },
			'messages.0.content.0.image_url.url',
			/https URL/
		],
		[
			'an SVG image',
			{ messages: [user([{ type: 'image_url', image_url: { url: 'data:image/svg+xml;base64,PHN2Zz4=' } }])] },
			'messages.0.content.0.image_url.url',
			/PNG, JPEG, GIF or WebP/
		],
		[
			'an image over 5 MB',
			{
				messages: [user([{ type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(7_000_004)}` } }])]
			},
			'messages.0.content.0.image_url.url',
			/at most 5 MB/
		],
		[
			'an image in a system message',
			{
				messages: [
					{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] },
					user('hi')
				]
			},
			'messages.0.content.0',
			/user messages only/
		],
		[
			'an audio part',
			{ messages: [user([{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }])] },
			'messages.0.content.0',
			/not supported/
		],
		[
			'a tool message answering no call',
			{ messages: [user('hi'), { role: 'tool', content: 'r', tool_call_id: 'c' }] },
			'messages.1.tool_call_id',
			/answers no tool call/
		],
		[
			'a function message',
			{ messages: [user('hi'), { role: 'function', name: 'f', content: 'r' }] },
			'messages.1.role',
			/legacy/
		],
		[
			'an image to a text-only model',
			{
				model: 'openrouter/meta-llama/llama-3.3-70b-instruct',
				messages: [user([{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }])]
			},
			'messages',
			/does not take images/
		],
		[
			'temperature to an Anthropic model',
			{ model: 'anthropic/claude-sonnet-4', temperature: 0.2 },
			'temperature',
			/does not take temperature/
		],
		['top_p to an Anthropic model', { model: 'anthropic/claude-sonnet-4', top_p: 0.2 }, 'top_p', /does not take top_p/],
		['a seed to an Anthropic model', { model: 'anthropic/claude-sonnet-4', seed: 1 }, 'seed', /seed/],
		[
			'a small budget with reasoning to Anthropic',
			{ model: 'anthropic/claude-sonnet-4', reasoning_effort: 'low', max_completion_tokens: 500 },
			'max_completion_tokens',
			/above 1024/
		],
		[
			'JSON mode without a schema to Anthropic',
			{ model: 'anthropic/claude-sonnet-4', response_format: { type: 'json_object' } },
			'response_format',
			/no JSON mode without a schema/
		],
		[
			'a schema without a type to Anthropic',
			{
				model: 'anthropic/claude-sonnet-4',
				response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { properties: {} } } }
			},
			'response_format.json_schema.schema',
			/need a type/
		],
		[
			'reasoning after a tool call to Anthropic',
			{
				model: 'anthropic/claude-sonnet-4',
				reasoning_effort: 'low',
				messages: [user('hi'), called, { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' }]
			},
			'reasoning_effort',
			/thinking blocks/
		],
		[
			'non-JSON tool arguments to Anthropic',
			{
				model: 'anthropic/claude-sonnet-4',
				messages: [
					user('hi'),
					{ ...called, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: 'oops' } }] }
				]
			},
			'messages.1.tool_calls.0.function.arguments',
			/JSON object/
		],
		[
			'parallel_tool_calls false to Gemini',
			{ model: 'google/gemini-2.5-flash', tools: [tool], parallel_tool_calls: false },
			'parallel_tool_calls',
			/one tool at a time/
		],
		[
			'a $ref schema to Gemini',
			{
				model: 'google/gemini-2.5-flash',
				response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { $ref: '#/x' } } }
			},
			'response_format.json_schema.schema',
			/\$ref/
		],
		[
			'an image URL without a type to Gemini',
			{
				model: 'google/gemini-2.5-flash',
				messages: [user([{ type: 'image_url', image_url: { url: 'https://x.test/image' } }])]
			},
			'messages.0.content.0.image_url.url',
			/\.png/
		]
	])('refuses %s with a 400 naming the field', (_name, extra, param, message) => {
		const refused = refusal(() => parseCompletionRequest(request(extra)));
		expect(refused).toMatchObject({ status: 400, param });
		expect(refused.message).toMatch(message);
	});

	it('takes the defaults of sampling parameters Anthropic lacks, which change nothing', () => {
		const parsed = parseCompletionRequest(request({ model: 'anthropic/claude-sonnet-4', temperature: 1, top_p: 1 }));
		expect(parsed.options).toMatchObject({ temperature: 1, topP: 1 });
	});

	it.each([
		['no model', { model: undefined }, 'model', /model is required/],
		['no messages', { messages: [] }, 'messages', /at least one message/],
		['only system messages', { messages: [{ role: 'system', content: 'x' }] }, 'messages', /at least one user message/],
		['a temperature over 2', { temperature: 2.5 }, 'temperature', /from 0 to 2/],
		['a fractional max_tokens', { max_tokens: 1.5 }, 'max_tokens', /whole number/],
		['an unknown role', { messages: [{ role: 'robot', content: 'x' }] }, 'messages.0.role', /role must be/],
		['a user message without content', { messages: [{ role: 'user' }] }, 'messages.0.content', /content is required/]
	])('answers %s with a clear 400', (_name, extra, param, message) => {
		const refused = refusal(() => parseCompletionRequest(request(extra)));
		expect(refused).toMatchObject({ status: 400, param });
		expect(refused.message).toMatch(message);
	});

	it('answers an unknown model with model_not_found, suggesting the public id of a bare name', () => {
		expect(refusal(() => parseCompletionRequest(request({ model: 'nope/model' })))).toMatchObject({
			status: 400,
			reason: 'model_not_found',
			param: 'model'
		});
		expect(refusal(() => parseCompletionRequest(request({ model: 'gpt-4o-mini' }))).message).toMatch(
			/Did you mean "openai\/gpt-4o-mini"\?/
		);
	});

	it('refuses a body that is not a JSON object', () => {
		expect(refusal(() => parseCompletionRequest([request()]))).toMatchObject({ status: 400 });
		expect(refusal(() => parseCompletionRequest('hello'))).toMatchObject({ status: 400 });
	});
});

const usage: FinalUsage = { promptTokens: 12, completionTokens: 30, costMicros: 1234, estimated: false };
const meta = completionMeta('req-abc', 'openai/gpt-4o-mini', new Date('2026-11-20T10:00:00.900Z'));

describe('response bodies', () => {
	it('builds a chat.completion that matches OpenAI’s schema, with the cost in dollars', () => {
		const body = completionBody(meta, 'Hi there', 'stop', usage);
		expect(schemaErrors('CreateChatCompletionResponse', body)).toEqual([]);
		expect(body).toMatchObject({
			id: 'chatcmpl-req-abc',
			object: 'chat.completion',
			created: 1_795_168_800,
			model: 'openai/gpt-4o-mini',
			choices: [
				{ index: 0, message: { role: 'assistant', content: 'Hi there', refusal: null }, finish_reason: 'stop' }
			],
			usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42, cost: 0.001234 }
		});
		expect(schemaErrors('CompletionUsage', body.usage)).toEqual([]);
	});

	it.each([
		['stop', 'stop'],
		['length', 'length'],
		['content_filter', 'content_filter'],
		['other', 'stop']
	] as const)('reports finish reason %s as %s', (reason, expected) => {
		expect(completionBody(meta, '', reason, usage).choices[0]?.finish_reason).toBe(expected);
		expect(chunkBody(meta, { kind: 'finish', finishReason: reason }, false).choices[0]?.finish_reason).toBe(expected);
	});

	it('writes a content chunk exactly as serialising its object would, whatever the text', () => {
		const texts = ['Hel', '', 'say "hi"\n\tthere \\ done', 'é ✓ 🙂 \u2028 \u0000', '\u0000latchkey\u0000', '"}]}'];
		for (const includeUsage of [false, true]) {
			const write = contentChunkWriter(meta, includeUsage);
			for (const text of texts) {
				const expected = `data: ${JSON.stringify(chunkBody(meta, { kind: 'content', text }, includeUsage))}\n\n`;
				expect(write(text)).toBe(expected);
			}
		}
	});

	it('builds chunks that match the schema, with usage: null only when include_usage is set', () => {
		const parts = [
			{ kind: 'role' },
			{ kind: 'content', text: 'Hel' },
			{ kind: 'finish', finishReason: 'length' }
		] as const;
		for (const part of parts) {
			const plain = chunkBody(meta, part, false);
			const withUsage = chunkBody(meta, part, true);
			expect(schemaErrors('CreateChatCompletionStreamResponse', plain)).toEqual([]);
			expect(schemaErrors('CreateChatCompletionStreamResponse', withUsage)).toEqual([]);
			expect('usage' in plain).toBe(false);
			expect(withUsage.usage).toBeNull();
		}
		expect(chunkBody(meta, { kind: 'role' }, false).choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
		const last = chunkBody(meta, { kind: 'usage', usage }, true);
		expect(schemaErrors('CreateChatCompletionStreamResponse', last)).toEqual([]);
		expect(last).toMatchObject({ choices: [], usage: { total_tokens: 42, cost: 0.001234 } });
	});

	it('lists models in OpenAI’s shape with Latchkey’s extras; an unknown price is null, never $0', () => {
		const option = (id: string, price: ModelOption['price']): ModelOption => ({
			id,
			provider: 'openai',
			displayName: id,
			contextWindow: 128_000,
			maxOutputTokens: 16_384,
			created: 1_700_000_000,
			input: ['text', 'image'],
			price,
			keySource: 'user',
			servedBy: 'openai',
			userHasKey: true,
			requiresKey: false,
			allowFallback: true,
			warning: null
		});
		const list = modelListBody([
			option('openai/gpt-4o-mini', {
				inputMicrosPerMTok: 150_000,
				outputMicrosPerMTok: 600_000,
				cachedInputMicrosPerMTok: 75_000
			}),
			option('openai/gpt-9-preview', null)
		]);
		expect(schemaErrors('ListModelsResponse', list)).toEqual([]);
		expect(list.data[0]).toMatchObject({
			id: 'openai/gpt-4o-mini',
			object: 'model',
			created: 1_700_000_000,
			owned_by: 'openai'
		});
		expect(list.data[0]?.latchkey).toMatchObject({
			key_source: 'user',
			context_window: 128_000,
			input_modalities: ['text', 'image'],
			pricing: { input: '0.15', output: '0.6', cached_input: '0.075' }
		});
		expect(list.data[1]?.latchkey.pricing).toBeNull();
	});

	it('shapes a bad token like OpenAI does: invalid_request_error / invalid_api_key', () => {
		const mapped = httpErrorOf(new AppError('unauthorized', 'Bad token.', { reason: 'invalid_token' }), 'req-1');
		expect(mapped.status).toBe(401);
		expect(mapped.body.error).toEqual({
			type: 'invalid_request_error',
			code: 'invalid_api_key',
			message: 'Bad token.',
			param: null,
			request_id: 'req-1'
		});
		expect(schemaErrors('ErrorResponse', mapped.body)).toEqual([]);
	});
});

describe('the schema itself', () => {
	const good = completionBody(meta, 'Hi', 'stop', usage);

	it('refuses bodies OpenAI clients would choke on', () => {
		const { object: _object, ...noObject } = good;
		expect(schemaErrors('CreateChatCompletionResponse', noObject)).toEqual([
			"(root) must have required property 'object'"
		]);
		const wrongReason = { ...good, choices: [{ ...good.choices[0], finish_reason: 'other' }] };
		expect(schemaErrors('CreateChatCompletionResponse', wrongReason)).toEqual([
			'/choices/0/finish_reason must be equal to one of the allowed values'
		]);
		const nullFingerprint = { ...good, system_fingerprint: null };
		expect(schemaErrors('CreateChatCompletionResponse', nullFingerprint)).toEqual([
			'/system_fingerprint must be string'
		]);
		const stringTokens = { ...good, usage: { ...good.usage, total_tokens: '42' } };
		expect(schemaErrors('CreateChatCompletionResponse', stringTokens)).toEqual(['/usage/total_tokens must be integer']);
	});

	it('refuses fields it does not declare, and chunks without their finish_reason', () => {
		expect(schemaErrors('CreateChatCompletionResponse', { ...good, extra: 1 })).toEqual([
			'(root) must NOT have additional properties (extra)'
		]);
		const chunk = chunkBody(meta, { kind: 'content', text: 'x' }, false);
		const { finish_reason: _reason, ...choice } = chunk.choices[0]!;
		expect(schemaErrors('CreateChatCompletionStreamResponse', { ...chunk, choices: [choice] })).toEqual([
			"/choices/0 must have required property 'finish_reason'"
		]);
		expect(schemaErrors('ErrorResponse', { error: { message: 'x', type: 't', code: 'c' } })).toEqual([
			"/error must have required property 'param'"
		]);
	});
});

describe('request bodies', () => {
	const post = (body: BodyInit, headers: Record<string, string> = {}) =>
		new Request('http://localhost/api/v1/chat/completions', {
			method: 'POST',
			headers: { 'content-type': 'application/json', ...headers },
			body,
			duplex: 'half'
		} as RequestInit);

	/** A body without a declared length, arriving in 64 KiB pieces. */
	function streamOf(text: string): ReadableStream<Uint8Array> {
		const bytes = new TextEncoder().encode(text);
		let sent = 0;
		return new ReadableStream({
			pull(controller) {
				if (sent >= bytes.length) return controller.close();
				controller.enqueue(bytes.slice(sent, sent + 64 * 1024));
				sent += 64 * 1024;
			}
		});
	}
	const jsonOfSize = (bytes: number) => JSON.stringify({ pad: 'x'.repeat(bytes - 10) });

	it('reads JSON within the limit', async () => {
		expect(await readJsonBody(post(JSON.stringify(request())))).toEqual(request());
	});

	it('refuses a declared length over the limit with 413 before reading', async () => {
		const tooBig = post('{}', { 'content-length': String(MAX_BODY_BYTES + 1) });
		await expect(readJsonBody(tooBig)).rejects.toMatchObject({ status: 413, reason: 'request_too_large' });
		expect(tooBig.bodyUsed).toBe(false);
	});

	it('refuses a chunked body once more than the limit has arrived', async () => {
		expect(jsonOfSize(MAX_BODY_BYTES)).toHaveLength(MAX_BODY_BYTES);
		await expect(readJsonBody(post(streamOf(jsonOfSize(2 * MAX_BODY_BYTES))))).rejects.toMatchObject({ status: 413 });
		await expect(readJsonBody(post(streamOf(jsonOfSize(MAX_BODY_BYTES + 1))))).rejects.toMatchObject({ status: 413 });
		expect(await readJsonBody(post(streamOf(jsonOfSize(MAX_BODY_BYTES))))).toMatchObject({ pad: expect.any(String) });
	});

	it('answers malformed JSON with 400 invalid_json', async () => {
		await expect(readJsonBody(post('{"model":'))).rejects.toMatchObject({ status: 400, reason: 'invalid_json' });
	});
});

/** A session whose events are scripted, for the SSE writer without a database or provider. */
function scriptedSession(events: SessionEvent[]): ChatSession & { aborted: () => boolean } {
	let aborted = false;
	async function* run(): AsyncGenerator<SessionEvent, void, undefined> {
		for (const event of events) {
			await new Promise((resolve) => setTimeout(resolve, 1));
			yield event;
		}
	}
	return {
		requestId: 'req-abc',
		model: getModel('openai/gpt-4o-mini')!,
		keySource: 'user',
		servedBy: 'openai',
		fallback: null,
		events: run(),
		abort: () => (aborted = true),
		aborted: () => aborted
	};
}

async function sseData(stream: ReadableStream<Uint8Array>): Promise<string[]> {
	const text = await new Response(stream).text();
	expect(text.endsWith('\n\n')).toBe(true);
	return text
		.split('\n\n')
		.filter(Boolean)
		.map((block) => {
			expect(block.startsWith('data: ')).toBe(true);
			return block.slice('data: '.length);
		});
}

describe('the SSE writer', () => {
	const log = createLogger({ level: 'silent' });
	const options = { requestId: 'req-abc', log };
	const answer: SessionEvent[] = [
		{ type: 'delta', text: 'Hel' },
		{ type: 'delta', text: 'lo' },
		{ type: 'done', finishReason: 'stop', usage }
	];

	it('streams a role chunk, content chunks, the finish chunk, the usage chunk, then [DONE]', async () => {
		const data = await sseData(completionStream(scriptedSession(answer), meta, { ...options, includeUsage: true }));
		expect(data.at(-1)).toBe('[DONE]');
		const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ReturnType<typeof chunkBody>);
		for (const chunk of chunks) expect(schemaErrors('CreateChatCompletionStreamResponse', chunk)).toEqual([]);
		expect(chunks.map((c) => [c.choices[0]?.delta, c.choices[0]?.finish_reason ?? null, c.usage])).toEqual([
			[{ role: 'assistant', content: '' }, null, null],
			[{ content: 'Hel' }, null, null],
			[{ content: 'lo' }, null, null],
			[{}, 'stop', null],
			[undefined, null, { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42, cost: 0.001234 }]
		]);
		expect(new Set(chunks.map((c) => c.id))).toEqual(new Set(['chatcmpl-req-abc']));
	});

	it('sends no usage chunk and no usage fields without include_usage', async () => {
		const data = await sseData(completionStream(scriptedSession(answer), meta, { ...options, includeUsage: false }));
		const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Record<string, unknown>);
		expect(chunks).toHaveLength(4);
		expect(chunks.every((c) => !('usage' in c))).toBe(true);
	});

	it('ends a stream that failed midway with an OpenAI error event, then [DONE]', async () => {
		const failed = new AppError('upstream_error', 'OpenAI stopped in the middle of the answer.', {
			reason: 'upstream_server_error'
		});
		const session = scriptedSession([
			{ type: 'delta', text: 'Hal' },
			{ type: 'error', error: failed, usage }
		]);
		const data = await sseData(completionStream(session, meta, { ...options, includeUsage: true }));
		expect(data.at(-1)).toBe('[DONE]');
		const error = JSON.parse(data.at(-2)!) as unknown;
		expect(schemaErrors('ErrorResponse', error)).toEqual([]);
		expect(error).toMatchObject({ error: { code: 'upstream_server_error', type: 'upstream_error' } });
	});

	const twoToolCalls: SessionEvent[] = [
		{ type: 'delta', text: 'Checking.' },
		{ type: 'tool_call', index: 0, id: 'call_a', name: 'get_weather', arguments: '' },
		{ type: 'tool_call', index: 0, arguments: '{"city":' },
		{ type: 'tool_call', index: 1, id: 'call_b', name: 'get_time', arguments: '{}' },
		{ type: 'tool_call', index: 0, arguments: '"Paris"}' },
		{ type: 'done', finishReason: 'tool_calls', usage }
	];

	it('streams tool calls as OpenAI does: id, type and name first, then argument pieces', async () => {
		const data = await sseData(
			completionStream(scriptedSession(twoToolCalls), meta, { ...options, includeUsage: false })
		);
		const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ReturnType<typeof chunkBody>);
		for (const chunk of chunks) expect(schemaErrors('CreateChatCompletionStreamResponse', chunk)).toEqual([]);
		expect(chunks.slice(2, 6).map((c) => c.choices[0]?.delta)).toEqual([
			{ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
			{ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
			{ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
			{ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }
		]);
		expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
	});

	it('answers tool calls whole when not streaming, each with its pieces joined', async () => {
		const response = await completionResponse(scriptedSession(twoToolCalls), meta, {
			...options,
			includeUsage: false,
			headers: {}
		});
		const body = (await response.json()) as ReturnType<typeof completionBody>;
		expect(schemaErrors('CreateChatCompletionResponse', body)).toEqual([]);
		expect(body.choices[0]).toMatchObject({
			finish_reason: 'tool_calls',
			message: {
				content: 'Checking.',
				tool_calls: [
					{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
					{ id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }
				]
			}
		});
	});

	it('stops the provider when the client goes away', async () => {
		const session = scriptedSession(answer);
		const reader = completionStream(session, meta, { ...options, includeUsage: false }).getReader();
		await reader.read();
		await reader.cancel();
		expect(session.aborted()).toBe(true);
	});

	it('answers a non-stream request with the whole text, or the error status when it failed midway', async () => {
		const ok = await completionResponse(scriptedSession(answer), meta, {
			...options,
			includeUsage: false,
			headers: { 'x-key-source': 'user' }
		});
		expect(ok.status).toBe(200);
		expect(ok.headers.get('x-key-source')).toBe('user');
		const body = (await ok.json()) as ReturnType<typeof completionBody>;
		expect(schemaErrors('CreateChatCompletionResponse', body)).toEqual([]);
		expect(body.choices[0]?.message.content).toBe('Hello');

		const failed = scriptedSession([
			{ type: 'delta', text: 'Hal' },
			{ type: 'error', error: new AppError('upstream_error', 'Stopped.'), usage }
		]);
		const error = await completionResponse(failed, meta, { ...options, includeUsage: false, headers: {} });
		expect(error.status).toBe(502);
		expect(schemaErrors('ErrorResponse', await error.json())).toEqual([]);
	});
});
