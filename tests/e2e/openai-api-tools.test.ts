import { randomBytes } from 'node:crypto';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Provider } from '$lib/server/config';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { startApp, type AppServer } from '../helpers/app-server';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { schemaErrors } from '../helpers/json-schema';
import { fakeEnv, testKey } from '../integration/keys-fixtures';

/**
 * Tools, images, JSON output and the rest of the request surface, as an OpenAI client sees them:
 * the official `openai` SDK against the built server's /api/v1, each provider's fake behind it.
 */

const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const PNG_BYTES = Buffer.from(PNG_BASE64, 'base64').byteLength;

const weatherTool: OpenAI.ChatCompletionFunctionTool = {
	type: 'function',
	function: {
		name: 'get_weather',
		description: 'The weather in a city',
		parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] }
	}
};
const question = { role: 'user', content: 'What is the weather in Paris?' } as const;

const APP_KEY = 'sk-or-v1-appkeytoolsapi00123456789abcdefghijklmnopqrstuvw';

const MODELS: readonly (readonly [string, Provider])[] = [
	['openai/gpt-4o-mini', 'openai'],
	['anthropic/claude-sonnet-4', 'anthropic'],
	['google/gemini-2.5-flash', 'google'],
	['openrouter/meta-llama/llama-3.3-70b-instruct', 'openrouter']
];

describe(`the OpenAI-compatible API's tools, images and options [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let app: AppServer;
	let fake: FakeProviders;
	let database: { url: string; drop(): Promise<void> } | undefined;

	beforeAll(async () => {
		fake = await startFakeProviders();
		fake.registerKey('openrouter', APP_KEY, 'ok');
		database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
		// Large enough for the API's own 8 MiB body limit to be the one that holds.
		app = await startApp({
			databaseUrl: database?.url,
			env: { ...fakeEnv(fake), OPENROUTER_API_KEY: APP_KEY, BODY_SIZE_LIMIT: '16M' }
		});
	});
	afterAll(async () => {
		await app?.stop();
		await fake?.close();
		await database?.drop();
	});

	let users = 0;
	/** A user with a token and their own key for `provider`, and an SDK client using the token. */
	async function apiUserWithKey(provider: Provider) {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: `tools-${++users}@example.com`, password: 'api password 1234' });
		const { token } = await client.trpc.tokens.create.mutate({ name: 'sdk' });
		const key = testKey(provider, `tl${users}`);
		fake.registerKey(provider, key, 'ok');
		await client.trpc.keys.upsert.mutate({ provider, apiKey: key });
		const sdk = new OpenAI({ apiKey: token, baseURL: `${app.url}/api/v1`, maxRetries: 0 });
		/** The body the provider's fake received for this user's last chat request. */
		const upstreamBody = () =>
			fake.requests.filter((r) => r.kind === 'chat' && r.key === key.slice(-4)).at(-1)?.body as Record<string, unknown>;
		return { sdk, token, upstreamBody };
	}

	/** Streams a completion, checks every chunk against OpenAI's schema, and puts it back together. */
	async function streamed(sdk: OpenAI, params: OpenAI.ChatCompletionCreateParamsStreaming) {
		const stream = await sdk.chat.completions.create(params);
		let content = '';
		let finishReason: string | null = null;
		const toolCalls: { id: string; name: string; arguments: string }[] = [];
		for await (const chunk of stream) {
			expect(schemaErrors('CreateChatCompletionStreamResponse', chunk)).toEqual([]);
			const choice = chunk.choices[0];
			content += choice?.delta.content ?? '';
			for (const piece of choice?.delta.tool_calls ?? []) {
				const call = (toolCalls[piece.index] ??= { id: '', name: '', arguments: '' });
				call.id = piece.id ?? call.id;
				call.name = piece.function?.name ?? call.name;
				call.arguments += piece.function?.arguments ?? '';
			}
			finishReason = choice?.finish_reason ?? finishReason;
		}
		return { content, finishReason, toolCalls };
	}

	describe.each(MODELS)('%s', (model, provider) => {
		it.each([false, true])('completes a tool round trip (stream: %s)', async (stream) => {
			const { sdk, upstreamBody } = await apiUserWithKey(provider);
			const ask = { model, messages: [question], tools: [weatherTool] };

			let call: { id: string; name: string; arguments: string };
			if (stream) {
				const first = await streamed(sdk, { ...ask, stream: true });
				expect(first.finishReason).toBe('tool_calls');
				expect(first.toolCalls).toHaveLength(1);
				call = first.toolCalls[0]!;
			} else {
				const first = await sdk.chat.completions.create(ask);
				expect(schemaErrors('CreateChatCompletionResponse', first)).toEqual([]);
				expect(first.choices[0]?.finish_reason).toBe('tool_calls');
				const toolCall = first.choices[0]?.message.tool_calls?.[0];
				if (toolCall?.type !== 'function') throw new Error('expected a function tool call');
				call = { id: toolCall.id, ...toolCall.function };
			}
			expect(call.name).toBe('get_weather');
			expect(call.id).toMatch(/\S/);
			expect(JSON.parse(call.arguments)).toEqual({ query: question.content });

			const answerTurn = {
				model,
				tools: [weatherTool],
				messages: [
					question,
					{
						role: 'assistant' as const,
						content: null,
						tool_calls: [
							{ id: call.id, type: 'function' as const, function: { name: call.name, arguments: call.arguments } }
						]
					},
					{ role: 'tool' as const, tool_call_id: call.id, content: 'Sunny, 21 °C' }
				]
			};
			const reply = stream
				? await streamed(sdk, { ...answerTurn, stream: true })
				: await sdk.chat.completions.create(answerTurn).then((completion) => {
						expect(schemaErrors('CreateChatCompletionResponse', completion)).toEqual([]);
						return {
							content: completion.choices[0]?.message.content,
							finishReason: completion.choices[0]?.finish_reason
						};
					});
			expect(reply.finishReason).toBe('stop');
			expect(reply.content).toContain('tool result: Sunny, 21 °C');

			// The provider got the turn in its own format.
			const body = upstreamBody();
			if (provider === 'anthropic') {
				expect(body.tools).toEqual([
					{ name: 'get_weather', description: 'The weather in a city', input_schema: weatherTool.function.parameters }
				]);
				expect(body.messages).toEqual([
					{ role: 'user', content: question.content },
					{
						role: 'assistant',
						content: [{ type: 'tool_use', id: call.id, name: 'get_weather', input: { query: question.content } }]
					},
					{ role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Sunny, 21 °C' }] }
				]);
			} else if (provider === 'google') {
				expect(body.tools).toEqual([
					{
						functionDeclarations: [
							{ name: 'get_weather', description: 'The weather in a city', parameters: weatherTool.function.parameters }
						]
					}
				]);
				expect(body.contents).toEqual([
					{ role: 'user', parts: [{ text: question.content }] },
					{ role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { query: question.content } } }] },
					{ role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: 'Sunny, 21 °C' } } }] }
				]);
			} else {
				// OpenAI and OpenRouter get the request as the client sent it.
				expect(body.tools).toEqual([weatherTool]);
				expect(body.messages).toEqual(answerTurn.messages);
			}
		});

		it('answers JSON that fits a json_schema response format', async () => {
			const { sdk, upstreamBody } = await apiUserWithKey(provider);
			const schema = {
				type: 'object',
				properties: { city: { type: 'string' }, celsius: { type: 'number' }, sunny: { type: 'boolean' } },
				required: ['city', 'celsius', 'sunny']
			};
			const completion = await sdk.chat.completions.create({
				model,
				messages: [question],
				response_format: { type: 'json_schema', json_schema: { name: 'weather', schema } }
			});
			expect(schemaErrors('CreateChatCompletionResponse', completion)).toEqual([]);
			expect(JSON.parse(completion.choices[0]?.message.content ?? '')).toEqual({
				city: 'fake',
				celsius: 1,
				sunny: true
			});
			const body = upstreamBody();
			if (provider === 'anthropic') {
				expect(body.output_config).toEqual({
					format: { type: 'json_schema', schema: { ...schema, additionalProperties: false } }
				});
			} else if (provider === 'google') {
				expect(body.generationConfig).toMatchObject({ responseMimeType: 'application/json', responseSchema: schema });
			} else expect(body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'weather', schema } });
		});
	});

	describe.each(MODELS.filter(([, provider]) => provider !== 'openrouter'))('%s', (model, provider) => {
		it.each([false, true])('answers a question about images, inline and by URL (stream: %s)', async (stream) => {
			const { sdk } = await apiUserWithKey(provider);
			const params = {
				model,
				messages: [
					{
						role: 'user' as const,
						content: [
							{ type: 'text' as const, text: 'What is in these pictures?' },
							{ type: 'image_url' as const, image_url: { url: `data:image/png;base64,${PNG_BASE64}` } },
							{ type: 'image_url' as const, image_url: { url: 'https://images.example.com/cat.png' } }
						]
					}
				]
			};
			const content = stream
				? (await streamed(sdk, { ...params, stream: true })).content
				: (await sdk.chat.completions.create(params)).choices[0]?.message.content;
			// The fake echoes what it received: the inline image's type and size, the URL.
			expect(content).toContain(
				`What is in these pictures?[image image/png ${PNG_BYTES} bytes][image https://images.example.com/cat.png]`
			);
		});
	});

	it("serves an Anthropic model's tool call through the app key, as OpenRouter takes it", async () => {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: `tools-app-${++users}@example.com`, password: 'api password 1234' });
		const { token } = await client.trpc.tokens.create.mutate({ name: 'sdk' });
		const sdk = new OpenAI({ apiKey: token, baseURL: `${app.url}/api/v1`, maxRetries: 0 });
		const { data, response } = await sdk.chat.completions
			.create({ model: 'anthropic/claude-sonnet-4', messages: [question], tools: [weatherTool], stream: true })
			.withResponse();
		expect(response.headers.get('x-key-source')).toBe('app');
		const toolCalls: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
		for await (const chunk of data) toolCalls.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
		expect(toolCalls[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather' } });
		const upstream = fake.requests.filter((r) => r.kind === 'chat' && r.key === APP_KEY.slice(-4)).at(-1);
		expect(upstream?.body).toMatchObject({ model: 'anthropic/claude-sonnet-4', tools: [weatherTool] });
	});

	/** A PNG signature followed by `bytes` of noise, as a data: URL (nobody decodes it on the way). */
	const pngOfSize = (bytes: number) =>
		`data:image/png;base64,${Buffer.concat([Buffer.from(PNG_BASE64, 'base64'), randomBytes(bytes - PNG_BYTES)]).toString('base64')}`;
	const imageQuestion = (url: string) => ({
		role: 'user' as const,
		content: [
			{ type: 'text' as const, text: 'And this one?' },
			{ type: 'image_url' as const, image_url: { url } }
		]
	});

	it('takes a 3 MB inline image, refuses one over 5 MB by name, and reads big bodies only for a valid token', async () => {
		const { sdk, token } = await apiUserWithKey('anthropic');
		const model = 'anthropic/claude-sonnet-4';
		const threeMb = 3 * 1024 * 1024;
		const answer = await sdk.chat.completions.create({ model, messages: [imageQuestion(pngOfSize(threeMb))] });
		expect(answer.choices[0]?.message.content).toContain(`[image image/png ${threeMb} bytes]`);

		const tooBig = await sdk.chat.completions
			.create({ model, messages: [imageQuestion(pngOfSize(5.5 * 1024 * 1024))] })
			.then(
				() => undefined,
				(thrown: unknown) => thrown
			);
		expect(tooBig).toMatchObject({ status: 400, code: 'image_too_large', param: 'messages.0.content.1.image_url.url' });

		const body = JSON.stringify({ model, messages: [imageQuestion(pngOfSize(2 * 1024 * 1024))] });
		for (const authorization of ['Bearer lk_not_a_real_token_000000000000000000', `Bearer ${token}x`]) {
			const refused = await fetch(`${app.url}/api/v1/chat/completions`, {
				method: 'POST',
				headers: { authorization, 'content-type': 'application/json' },
				body
			});
			expect(refused.status).toBe(401);
			expect(schemaErrors('ErrorResponse', await refused.json())).toEqual([]);
		}
	});

	it('passes sampling, stop, seed and user to OpenAI as sent, and reasoning budgets to Anthropic and Gemini', async () => {
		const openai = await apiUserWithKey('openai');
		await openai.sdk.chat.completions.create({
			model: 'openai/gpt-4o-mini',
			messages: [question],
			temperature: 0.3,
			top_p: 0.8,
			stop: ['END'],
			seed: 42,
			user: 'end-user-1',
			max_completion_tokens: 300,
			reasoning_effort: 'low'
		});
		expect(openai.upstreamBody()).toMatchObject({
			temperature: 0.3,
			top_p: 0.8,
			stop: ['END'],
			seed: 42,
			user: 'end-user-1',
			max_completion_tokens: 300,
			reasoning_effort: 'low'
		});

		const anthropic = await apiUserWithKey('anthropic');
		await anthropic.sdk.chat.completions.create({
			model: 'anthropic/claude-sonnet-4',
			messages: [question],
			stop: 'END',
			user: 'end-user-1',
			max_completion_tokens: 4000,
			reasoning_effort: 'medium'
		});
		expect(anthropic.upstreamBody()).toMatchObject({
			max_tokens: 4000,
			stop_sequences: ['END'],
			metadata: { user_id: 'end-user-1' },
			thinking: { type: 'enabled', budget_tokens: 2000 }
		});

		const google = await apiUserWithKey('google');
		await google.sdk.chat.completions.create({
			model: 'google/gemini-2.5-flash',
			messages: [question],
			temperature: 0.3,
			top_p: 0.8,
			stop: ['END'],
			seed: 42,
			max_completion_tokens: 4000,
			reasoning_effort: 'high'
		});
		expect(google.upstreamBody().generationConfig).toEqual({
			maxOutputTokens: 4000,
			temperature: 0.3,
			topP: 0.8,
			stopSequences: ['END'],
			seed: 42,
			thinkingConfig: { thinkingBudget: 3200 }
		});
	});

	it.each([
		['n > 1', 'openai/gpt-4o-mini', { n: 2 }, 'n', /n must be 1/],
		[
			'an image to a model without vision',
			'openrouter/meta-llama/llama-3.3-70b-instruct',
			{
				messages: [
					{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_BASE64}` } }] }
				]
			},
			'messages',
			/does not take images/
		],
		[
			'temperature to an Anthropic model',
			'anthropic/claude-sonnet-4',
			{ temperature: 0.2 },
			'temperature',
			/temperature/
		],
		['a seed to an Anthropic model', 'anthropic/claude-sonnet-4', { seed: 1 }, 'seed', /seed/],
		[
			'parallel_tool_calls: false to a Gemini model',
			'google/gemini-2.5-flash',
			{ tools: [weatherTool], parallel_tool_calls: false },
			'parallel_tool_calls',
			/one tool at a time/
		],
		[
			'an SVG image',
			'openai/gpt-4o-mini',
			{
				messages: [
					{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/svg+xml;base64,PHN2Zz4=' } }] }
				]
			},
			'messages.0.content.0.image_url.url',
			/PNG, JPEG, GIF or WebP/
		]
	])(
		'refuses %s with an OpenAI-shaped 400 naming the field, before any provider call',
		async (_name, model, extra, param, message) => {
			const provider = (model.split('/')[0] ?? 'openai') as Provider;
			const { sdk, token } = await apiUserWithKey(provider);
			const before = fake.requests.filter((r) => r.kind === 'chat').length;
			const params = { model, messages: [question], ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming;
			const error = await sdk.chat.completions.create(params).then(
				() => undefined,
				(thrown: unknown) => thrown
			);
			expect(error).toBeInstanceOf(APIError);
			expect(error).toMatchObject({ status: 400, param, type: 'invalid_request_error' });
			expect((error as APIError).message).toMatch(message);
			const raw = await fetch(`${app.url}/api/v1/chat/completions`, {
				method: 'POST',
				headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
				body: JSON.stringify(params)
			});
			expect(raw.status).toBe(400);
			expect(schemaErrors('ErrorResponse', await raw.json())).toEqual([]);
			expect(fake.requests.filter((r) => r.kind === 'chat')).toHaveLength(before);
		}
	);
});
