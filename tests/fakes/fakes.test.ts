// The fakes, exercised through the real SDKs: if these parse our bytes, so will the adapters.
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenerativeAI, GoogleGenerativeAIFetchError } from '@google/generative-ai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
	BEHAVIOURS,
	FAKE_MODELS,
	PROVIDER_NAMES,
	countCompletionTokens,
	countPromptTokens,
	defaultReply,
	fakeCostUsd,
	findFakeModel,
	splitIntoChunks,
	startFakeProviders,
	type Behaviour,
	type FakeProviders,
	type FakeRequest,
	type ProviderName
} from './server';

let fake: FakeProviders;
let keySeq = 0;

beforeAll(async () => {
	fake = await startFakeProviders();
});
afterAll(async () => {
	await fake.close();
});
beforeEach(() => {
	fake.reset();
});

/** A fresh, realistic-length key; registered for `provider` with `behaviour` unless unregistered. */
function newKey(prefix = 'sk-test'): string {
	keySeq += 1;
	return `${prefix}-${String(keySeq).padStart(4, '0')}-Zq8xV2mK9pL4wR7t`;
}

function openai(key: string, baseURL = fake.baseUrls.openai): OpenAI {
	return new OpenAI({ apiKey: key, baseURL, maxRetries: 0, timeout: 5000, logLevel: 'off' });
}

function openrouter(key: string): OpenAI {
	return openai(key, fake.baseUrls.openrouter);
}

function anthropic(key: string): Anthropic {
	return new Anthropic({
		apiKey: key,
		baseURL: fake.baseUrls.anthropic,
		maxRetries: 0,
		timeout: 5000,
		logLevel: 'off'
	});
}

function gemini(key: string, model = 'gemini-2.5-flash') {
	return new GoogleGenerativeAI(key).getGenerativeModel({ model }, { baseUrl: fake.baseUrls.google });
}

const PROMPT = 'Hi there, fake!';
const USER_MESSAGES = [{ role: 'user' as const, content: PROMPT }];

type ErrorClass = abstract new (...args: never[]) => Error;

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** OpenRouter's `usage.cost`, which the openai SDK's types don't know. */
function costOf(usage: unknown): unknown {
	return isRecord(usage) ? usage.cost : undefined;
}

function lastRequest(): FakeRequest {
	const entry = fake.requests.at(-1);
	if (!entry) throw new Error('no request logged');
	return entry;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}

/** Collect what a stream yields before it ends or throws; the error, if any, is returned. */
async function drain<T>(stream: AsyncIterable<T>, textOf: (item: T) => string | undefined) {
	const texts: string[] = [];
	const items: T[] = [];
	let error: unknown;
	try {
		for await (const item of stream) {
			items.push(item);
			const text = textOf(item);
			if (text) texts.push(text);
		}
	} catch (caught) {
		error = caught;
	}
	return { texts, items, error };
}

const openAIText = (chunk: OpenAI.Chat.Completions.ChatCompletionChunk): string | undefined =>
	chunk.choices[0]?.delta.content ?? undefined;

const anthropicText = (event: Anthropic.Messages.RawMessageStreamEvent): string | undefined =>
	event.type === 'content_block_delta' && event.delta.type === 'text_delta' ? event.delta.text : undefined;

describe('OpenAI fake through the openai SDK', () => {
	const model = 'gpt-4o-mini';
	const reply = defaultReply('openai', model, PROMPT);

	it('answers non-stream with the deterministic reply and usage', async () => {
		const key = newKey();
		fake.registerKey('openai', key);
		const completion = await openai(key).chat.completions.create({
			model,
			messages: USER_MESSAGES
		});
		expect(completion.id).toMatch(/^chatcmpl-/);
		expect(completion.object).toBe('chat.completion');
		expect(completion.choices[0]?.message.content).toBe(reply);
		expect(completion.choices[0]?.finish_reason).toBe('stop');
		expect(completion.usage).toMatchObject({
			prompt_tokens: countPromptTokens([PROMPT]),
			completion_tokens: countCompletionTokens(reply),
			total_tokens: countPromptTokens([PROMPT]) + countCompletionTokens(reply)
		});
		expect(lastRequest()).toMatchObject({
			provider: 'openai',
			kind: 'chat',
			model,
			stream: false,
			completed: true
		});
	});

	it('streams several chunks and, with include_usage, a final usage chunk', async () => {
		const key = newKey();
		fake.registerKey('openai', key);
		const stream = await openai(key).chat.completions.create({
			model,
			messages: [{ role: 'system', content: 'Be brief.' }, ...USER_MESSAGES],
			stream: true,
			stream_options: { include_usage: true }
		});
		const { texts, items, error } = await drain(stream, openAIText);
		expect(error).toBeUndefined();
		expect(texts.join('')).toBe(reply);
		expect(texts.length).toBeGreaterThanOrEqual(3);
		const last = items.at(-1);
		expect(last?.choices).toEqual([]);
		expect(last?.usage).toMatchObject({
			prompt_tokens: countPromptTokens(['Be brief.', PROMPT]),
			completion_tokens: countCompletionTokens(reply)
		});
		expect(items.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
		expect(lastRequest()).toMatchObject({ stream: true, completed: true, closedByClient: false });
	});

	it('sends no usage chunk without include_usage', async () => {
		const key = newKey();
		fake.registerKey('openai', key);
		const stream = await openai(key).chat.completions.create({
			model,
			messages: USER_MESSAGES,
			stream: true
		});
		const { texts, items } = await drain(stream, openAIText);
		expect(texts.join('')).toBe(reply);
		expect(items.some((chunk) => chunk.usage)).toBe(false);
	});

	it('uses spec.reply when given', async () => {
		const key = newKey();
		fake.registerKey('openai', key, { behaviour: 'ok', reply: 'Custom words for this test.' });
		const completion = await openai(key).chat.completions.create({
			model,
			messages: USER_MESSAGES
		});
		expect(completion.choices[0]?.message.content).toBe('Custom words for this test.');
	});

	it('lists models for a valid key and refuses an invalid one', async () => {
		const key = newKey();
		fake.registerKey('openai', key);
		const page = await openai(key).models.list();
		expect(page.data.map((m) => m.id)).toEqual(FAKE_MODELS.openai.map((m) => m.id));
		await expect(openai(newKey()).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
	});
});

describe('OpenRouter fake through the openai SDK', () => {
	const model = 'openai/gpt-4o-mini';
	const reply = defaultReply('openrouter', model, PROMPT);
	const promptTokens = countPromptTokens([PROMPT]);
	const completionTokens = countCompletionTokens(reply);

	it('answers non-stream with usage.cost from the price table', async () => {
		const key = newKey('sk-or-v1');
		fake.registerKey('openrouter', key);
		const completion = await openrouter(key).chat.completions.create({
			model,
			messages: USER_MESSAGES
		});
		expect(completion.choices[0]?.message.content).toBe(reply);
		expect(completion.usage).toMatchObject({
			prompt_tokens: promptTokens,
			completion_tokens: completionTokens
		});
		expect(costOf(completion.usage)).toBe(fakeCostUsd(model, promptTokens, completionTokens));
		expect(costOf(completion.usage)).toBeCloseTo(promptTokens * 1.5e-7 + completionTokens * 6e-7, 15);
	});

	it('streams (comments included) and always ends with usage and cost', async () => {
		const key = newKey('sk-or-v1');
		fake.registerKey('openrouter', key);
		const stream = await openrouter(key).chat.completions.create({
			model: 'anthropic/claude-sonnet-4.5',
			messages: USER_MESSAGES,
			stream: true
		});
		const { texts, items, error } = await drain(stream, openAIText);
		expect(error).toBeUndefined();
		const streamedReply = defaultReply('openrouter', 'anthropic/claude-sonnet-4.5', PROMPT);
		expect(texts.join('')).toBe(streamedReply);
		const usage = items.at(-1)?.usage;
		expect(usage?.completion_tokens).toBe(countCompletionTokens(streamedReply));
		expect(costOf(usage)).toBe(
			fakeCostUsd('anthropic/claude-sonnet-4.5', promptTokens, countCompletionTokens(streamedReply))
		);
	});

	it('reports key info and spend on /key, and 401 for an unknown key', async () => {
		const key = newKey('sk-or-v1');
		fake.registerKey('openrouter', key);
		await openrouter(key).chat.completions.create({ model, messages: USER_MESSAGES });
		const info = await fetch(`${fake.baseUrls.openrouter}/key`, {
			headers: { authorization: `Bearer ${key}` }
		});
		expect(info.status).toBe(200);
		const body: unknown = await info.json();
		expect(body).toMatchObject({
			data: { usage: fakeCostUsd(model, promptTokens, completionTokens), is_free_tier: false }
		});

		const denied = await fetch(`${fake.baseUrls.openrouter}/key`, {
			headers: { authorization: `Bearer ${newKey()}` }
		});
		expect(denied.status).toBe(401);
		expect(await denied.json()).toMatchObject({ error: { code: 401 } });
	});

	it('lists models publicly with string per-token prices and context_length', async () => {
		const response = await fetch(`${fake.baseUrls.openrouter}/models`);
		expect(response.status).toBe(200);
		const body: unknown = await response.json();
		const data = isRecord(body) && Array.isArray(body.data) ? body.data : [];
		const mini = data.find((m: unknown) => isRecord(m) && m.id === 'openai/gpt-4o-mini');
		expect(mini).toMatchObject({
			context_length: 128000,
			pricing: { prompt: '0.00000015', completion: '0.0000006' }
		});
		const llama = data.find((m: unknown) => isRecord(m) && m.id === 'meta-llama/llama-3.3-70b-instruct');
		expect(llama).toMatchObject({ pricing: { prompt: '0.00000013', completion: '0.0000004' } });
		expect(data).toHaveLength(FAKE_MODELS.openrouter.length);
	});

	it('answers 402 for quota and 400 for an unknown model', async () => {
		const key = newKey('sk-or-v1');
		fake.registerKey('openrouter', key, 'quota');
		const quota = await openrouter(key)
			.chat.completions.create({ model, messages: USER_MESSAGES })
			.catch((e: unknown) => e);
		expect(quota).toBeInstanceOf(OpenAI.APIError);
		expect(quota).toMatchObject({ status: 402 });

		fake.registerKey('openrouter', key, 'ok');
		const unknown = await openrouter(key)
			.chat.completions.create({ model: 'openai/gpt-99', messages: USER_MESSAGES })
			.catch((e: unknown) => e);
		expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
	});
});

describe('Anthropic fake through @anthropic-ai/sdk', () => {
	const model = 'claude-haiku-4-5';
	const reply = defaultReply('anthropic', model, PROMPT);
	const inputTokens = countPromptTokens(['You are terse.', PROMPT]);
	const params = { model, max_tokens: 256, system: 'You are terse.', messages: USER_MESSAGES };

	it('answers messages.create with content and usage', async () => {
		const key = newKey('sk-ant-api03');
		fake.registerKey('anthropic', key);
		const message = await anthropic(key).messages.create(params);
		expect(message.id).toMatch(/^msg_/);
		expect(message.stop_reason).toBe('end_turn');
		expect(message.content).toEqual([{ type: 'text', text: reply }]);
		expect(message.usage).toMatchObject({
			input_tokens: inputTokens,
			output_tokens: countCompletionTokens(reply)
		});
	});

	it('streams with create({stream: true}): text deltas and usage in message_start/message_delta', async () => {
		const key = newKey('sk-ant-api03');
		fake.registerKey('anthropic', key);
		const stream = await anthropic(key).messages.create({ ...params, stream: true });
		const { texts, items, error } = await drain(stream, anthropicText);
		expect(error).toBeUndefined();
		expect(texts.join('')).toBe(reply);
		expect(texts.length).toBeGreaterThanOrEqual(3);
		const start = items.find((e) => e.type === 'message_start');
		const delta = items.find((e) => e.type === 'message_delta');
		expect(start?.type === 'message_start' && start.message.usage.input_tokens).toBe(inputTokens);
		expect(delta?.type === 'message_delta' && delta.usage.output_tokens).toBe(countCompletionTokens(reply));
	});

	it('streams with messages.stream() to a final message with usage', async () => {
		const key = newKey('sk-ant-api03');
		fake.registerKey('anthropic', key);
		const final = await anthropic(key).messages.stream(params).finalMessage();
		expect(final.content).toEqual([{ type: 'text', text: reply }]);
		expect(final.usage).toMatchObject({
			input_tokens: inputTokens,
			output_tokens: countCompletionTokens(reply)
		});
	});

	it('accepts x-api-key as well as Bearer, and requires max_tokens', async () => {
		const key = newKey('sk-ant-api03');
		fake.registerKey('anthropic', key);
		const headers = {
			'x-api-key': key,
			'anthropic-version': '2023-06-01',
			'content-type': 'application/json'
		};
		const url = `${fake.baseUrls.anthropic}/v1/messages`;
		const ok = await fetch(url, { method: 'POST', headers, body: JSON.stringify(params) });
		expect(ok.status).toBe(200);
		const { max_tokens: _omitted, ...withoutMaxTokens } = params;
		const bad = await fetch(url, {
			method: 'POST',
			headers,
			body: JSON.stringify(withoutMaxTokens)
		});
		expect(bad.status).toBe(400);
		expect(await bad.json()).toMatchObject({
			type: 'error',
			error: { type: 'invalid_request_error' }
		});
	});

	it('lists models for a valid key and refuses an invalid one', async () => {
		const key = newKey('sk-ant-api03');
		fake.registerKey('anthropic', key);
		const page = await anthropic(key).models.list();
		expect(page.data.map((m) => m.id)).toEqual(FAKE_MODELS.anthropic.map((m) => m.id));
		await expect(anthropic(newKey()).models.list()).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
	});
});

describe('Google fake through @google/generative-ai', () => {
	const model = 'gemini-2.5-flash';
	const reply = defaultReply('google', model, PROMPT);
	const expectedUsage = {
		promptTokenCount: countPromptTokens([PROMPT]),
		candidatesTokenCount: countCompletionTokens(reply),
		totalTokenCount: countPromptTokens([PROMPT]) + countCompletionTokens(reply)
	};

	it('answers generateContent with text and usageMetadata', async () => {
		const key = newKey('AIzaSy');
		fake.registerKey('google', key);
		const result = await gemini(key).generateContent(PROMPT);
		expect(result.response.text()).toBe(reply);
		expect(result.response.candidates?.[0]?.finishReason).toBe('STOP');
		expect(result.response.usageMetadata).toMatchObject(expectedUsage);
	});

	it('streams with generateContentStream; usage on the aggregated response', async () => {
		const key = newKey('AIzaSy');
		fake.registerKey('google', key);
		const result = await gemini(key).generateContentStream(PROMPT);
		const { texts, error } = await drain(result.stream, (chunk) => chunk.text());
		expect(error).toBeUndefined();
		expect(texts.join('')).toBe(reply);
		expect(texts.length).toBeGreaterThanOrEqual(3);
		expect((await result.response).usageMetadata).toMatchObject(expectedUsage);
	});

	it('answers an invalid key with 400 API_KEY_INVALID, also on /models', async () => {
		const error = await gemini(newKey('AIzaSy'))
			.generateContent(PROMPT)
			.catch((e: unknown) => e);
		expect(error).toBeInstanceOf(GoogleGenerativeAIFetchError);
		expect(error).toMatchObject({
			status: 400,
			errorDetails: expect.arrayContaining([expect.objectContaining({ reason: 'API_KEY_INVALID' })])
		});

		const models = await fetch(`${fake.baseUrls.google}/v1beta/models`, {
			headers: { 'x-goog-api-key': 'AIzaSy-nope-nope' }
		});
		expect(models.status).toBe(400);
	});

	it('lists models for a valid key, also given as ?key=, which never reaches the log', async () => {
		const key = newKey('AIzaSy');
		fake.registerKey('google', key);
		const response = await fetch(`${fake.baseUrls.google}/v1beta/models?key=${key}`);
		expect(response.status).toBe(200);
		const body: unknown = await response.json();
		expect(body).toMatchObject({
			models: FAKE_MODELS.google.map((m) => ({ name: `models/${m.id}` }))
		});
		expect(lastRequest().path).toBe('/google/v1beta/models');
	});

	it('answers an unknown model with 404 NOT_FOUND', async () => {
		const key = newKey('AIzaSy');
		fake.registerKey('google', key);
		const error = await gemini(key, 'gemini-9-ultra')
			.generateContent(PROMPT)
			.catch((e: unknown) => e);
		expect(error).toMatchObject({ status: 404 });
	});
});

describe('error behaviours map to the SDKs typed errors', () => {
	it('OpenAI: unknown key and 401 → AuthenticationError; 429 → RateLimitError with retry-after', async () => {
		const unknown = await openai(newKey())
			.chat.completions.create({ model: 'gpt-4o', messages: USER_MESSAGES })
			.catch((e: unknown) => e);
		expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError);
		expect(unknown).toMatchObject({ status: 401, code: 'invalid_api_key' });

		const revoked = newKey();
		fake.registerKey('openai', revoked, '401');
		await expect(
			openai(revoked).chat.completions.create({ model: 'gpt-4o', messages: USER_MESSAGES })
		).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

		const limited = newKey();
		fake.registerKey('openai', limited, { behaviour: '429', retryAfterSeconds: 7 });
		const rateError = await openai(limited)
			.chat.completions.create({ model: 'gpt-4o', messages: USER_MESSAGES })
			.catch((e: unknown) => e);
		expect(rateError).toBeInstanceOf(OpenAI.RateLimitError);
		expect(rateError).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
		expect(rateError instanceof OpenAI.APIError && rateError.headers?.get('retry-after')).toBe('7');
	});

	it('OpenAI: quota is a 429 insufficient_quota; 403, 500, 503 and unknown model have their statuses', async () => {
		const cases: [Behaviour, number, string | null][] = [
			['quota', 429, 'insufficient_quota'],
			['403', 403, 'unsupported_country_region_territory'],
			['500', 500, null],
			['503', 503, null]
		];
		for (const [behaviour, status, code] of cases) {
			const key = newKey();
			fake.registerKey('openai', key, behaviour);
			const error = await openai(key)
				.chat.completions.create({ model: 'gpt-4o', messages: USER_MESSAGES })
				.catch((e: unknown) => e);
			expect(error).toBeInstanceOf(OpenAI.APIError);
			expect(error).toMatchObject({ status, code });
		}
		const key = newKey();
		fake.registerKey('openai', key);
		await expect(
			openai(key).chat.completions.create({ model: 'gpt-7', messages: USER_MESSAGES })
		).rejects.toBeInstanceOf(OpenAI.NotFoundError);
	});

	it('Anthropic: unknown key → AuthenticationError, 429, quota → 402, 503 → 529 overloaded', async () => {
		const params = { model: 'claude-sonnet-4', max_tokens: 64, messages: USER_MESSAGES };
		await expect(anthropic(newKey()).messages.create(params)).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
		const cases: [Behaviour, ErrorClass, number][] = [
			['429', Anthropic.RateLimitError, 429],
			['quota', Anthropic.PaymentRequiredError, 402],
			['503', Anthropic.OverloadedError, 529],
			['500', Anthropic.InternalServerError, 500]
		];
		for (const [behaviour, errorClass, status] of cases) {
			const key = newKey();
			fake.registerKey('anthropic', key, behaviour);
			const error = await anthropic(key)
				.messages.create(params)
				.catch((e: unknown) => e);
			expect(error).toBeInstanceOf(errorClass);
			expect(error).toMatchObject({ status });
		}
		const key = newKey();
		fake.registerKey('anthropic', key);
		await expect(anthropic(key).messages.create({ ...params, model: 'claude-opus-9' })).rejects.toBeInstanceOf(
			Anthropic.NotFoundError
		);
	});

	it('Google: 403, 429, quota, 500, 503 carry their statuses', async () => {
		const cases: [Behaviour, number][] = [
			['403', 403],
			['429', 429],
			['quota', 429],
			['500', 500],
			['503', 503]
		];
		for (const [behaviour, status] of cases) {
			const key = newKey();
			fake.registerKey('google', key, behaviour);
			const error = await gemini(key)
				.generateContent(PROMPT)
				.catch((e: unknown) => e);
			expect(error).toBeInstanceOf(GoogleGenerativeAIFetchError);
			expect(error).toMatchObject({ status });
		}
	});

	it('a behaviour changes when the key is registered again', async () => {
		const key = newKey();
		fake.registerKey('openai', key, '500');
		await expect(openai(key).models.list()).rejects.toMatchObject({ status: 500 });
		fake.registerKey('openai', key, 'ok');
		await expect(openai(key).models.list()).resolves.toBeDefined();
	});
});

describe('stream failures', () => {
	it('reset: every SDK yields the first text, then throws', async () => {
		const oaiKey = newKey();
		fake.registerKey('openai', oaiKey, 'reset');
		const oai = await drain(
			await openai(oaiKey).chat.completions.create({
				model: 'gpt-4o',
				messages: USER_MESSAGES,
				stream: true
			}),
			openAIText
		);
		expect(oai.texts).toEqual([splitIntoChunks(defaultReply('openai', 'gpt-4o', PROMPT))[0]]);
		expect(oai.error).toBeInstanceOf(Error);

		const antKey = newKey();
		fake.registerKey('anthropic', antKey, 'reset');
		const ant = await drain(
			await anthropic(antKey).messages.create({
				model: 'claude-sonnet-4',
				max_tokens: 64,
				messages: USER_MESSAGES,
				stream: true
			}),
			anthropicText
		);
		expect(ant.texts).toEqual([splitIntoChunks(defaultReply('anthropic', 'claude-sonnet-4', PROMPT))[0]]);
		expect(ant.error).toBeInstanceOf(Error);

		const gKey = newKey();
		fake.registerKey('google', gKey, 'reset');
		const result = await gemini(gKey).generateContentStream(PROMPT);
		result.response.catch(() => undefined); // the aggregate rejects too; we assert on the stream
		const goo = await drain(result.stream, (chunk) => chunk.text());
		expect(goo.texts).toEqual([splitIntoChunks(defaultReply('google', 'gemini-2.5-flash', PROMPT))[0]]);
		expect(goo.error).toBeInstanceOf(Error);
		expect(lastRequest()).toMatchObject({ completed: false, closedByClient: false });
	});

	it('reset without streaming drops the connection before answering', async () => {
		const key = newKey();
		fake.registerKey('openai', key, 'reset');
		await expect(
			openai(key).chat.completions.create({ model: 'gpt-4o', messages: USER_MESSAGES })
		).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
	});

	it('reset_before: every SDK fails with a connection error and no text, stream or not', async () => {
		const attempts: [ProviderName, (key: string, stream: boolean) => Promise<unknown>][] = [
			[
				'openai',
				async (key, stream) => {
					const client = openai(key).chat.completions;
					const params = { model: 'gpt-4o', messages: USER_MESSAGES };
					if (!stream) return client.create(params);
					return drain(await client.create({ ...params, stream: true }), openAIText);
				}
			],
			[
				'openrouter',
				async (key, stream) => {
					const client = openrouter(key).chat.completions;
					const params = { model: 'openai/gpt-4o', messages: USER_MESSAGES };
					if (!stream) return client.create(params);
					return drain(await client.create({ ...params, stream: true }), openAIText);
				}
			],
			[
				'anthropic',
				async (key, stream) => {
					const client = anthropic(key).messages;
					const params = { model: 'claude-sonnet-4', max_tokens: 64, messages: USER_MESSAGES };
					if (!stream) return client.create(params);
					return drain(await client.create({ ...params, stream: true }), anthropicText);
				}
			],
			[
				'google',
				async (key, stream) => {
					if (!stream) return gemini(key).generateContent(PROMPT);
					const result = await gemini(key).generateContentStream(PROMPT);
					result.response.catch(() => undefined);
					return drain(result.stream, (chunk) => chunk.text());
				}
			]
		];
		for (const [provider, call] of attempts) {
			for (const stream of [false, true]) {
				const key = newKey();
				fake.registerKey(provider, key, 'reset_before');
				const error = await call(key, stream).then(
					() => undefined,
					(e: unknown) => e
				);
				expect(error, `${provider} stream=${stream}`).toBeInstanceOf(Error);
				if (provider === 'openai' || provider === 'openrouter') expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
				if (provider === 'anthropic') expect(error).toBeInstanceOf(Anthropic.APIConnectionError);
				const entry = lastRequest();
				expect(entry).toMatchObject({ provider, kind: 'chat', stream, completed: false, closedByClient: false });
				expect(entry.status).toBeUndefined();
				expect(entry.firstByteAt).toBeUndefined();
			}
		}
	});

	it('midstream_error: in-stream error events become SDK errors after the first text', async () => {
		const oaiKey = newKey();
		fake.registerKey('openai', oaiKey, 'midstream_error');
		const oai = await drain(
			await openai(oaiKey).chat.completions.create({
				model: 'gpt-4o',
				messages: USER_MESSAGES,
				stream: true
			}),
			openAIText
		);
		expect(oai.texts).toHaveLength(1);
		expect(oai.error).toBeInstanceOf(OpenAI.APIError);

		const orKey = newKey();
		fake.registerKey('openrouter', orKey, 'midstream_error');
		const or = await drain(
			await openrouter(orKey).chat.completions.create({
				model: 'openai/gpt-4o',
				messages: USER_MESSAGES,
				stream: true
			}),
			openAIText
		);
		expect(or.texts).toHaveLength(1);
		expect(or.error).toBeInstanceOf(OpenAI.APIError);

		const antKey = newKey();
		fake.registerKey('anthropic', antKey, 'midstream_error');
		const ant = await drain(
			await anthropic(antKey).messages.create({
				model: 'claude-sonnet-4',
				max_tokens: 64,
				messages: USER_MESSAGES,
				stream: true
			}),
			anthropicText
		);
		expect(ant.texts).toHaveLength(1);
		expect(ant.error).toBeInstanceOf(Anthropic.APIError);
		expect(ant.error).toMatchObject({ type: 'overloaded_error' });

		const gKey = newKey();
		fake.registerKey('google', gKey, 'midstream_error');
		const result = await gemini(gKey).generateContentStream(PROMPT);
		result.response.catch(() => undefined);
		const goo = await drain(result.stream, (chunk) => chunk.text());
		expect(goo.texts).toHaveLength(1);
		expect(goo.error).toBeInstanceOf(Error);
	});

	it('malformed: stream and non-stream bodies fail to parse', async () => {
		const key = newKey();
		fake.registerKey('openai', key, 'malformed');
		const oai = await drain(
			await openai(key).chat.completions.create({
				model: 'gpt-4o',
				messages: USER_MESSAGES,
				stream: true
			}),
			openAIText
		);
		expect(oai.texts).toHaveLength(1);
		expect(oai.error).toBeInstanceOf(SyntaxError);
		await expect(openai(key).chat.completions.create({ model: 'gpt-4o', messages: USER_MESSAGES })).rejects.toThrow();

		const gKey = newKey();
		fake.registerKey('google', gKey, 'malformed');
		const result = await gemini(gKey).generateContentStream(PROMPT);
		result.response.catch(() => undefined);
		const goo = await drain(result.stream, (chunk) => chunk.text());
		expect(goo.texts).toHaveLength(1);
		expect(goo.error).toBeInstanceOf(Error);
	});

	it('no_usage: streams finish normally without usage', async () => {
		const oaiKey = newKey();
		fake.registerKey('openai', oaiKey, 'no_usage');
		const oai = await drain(
			await openai(oaiKey).chat.completions.create({
				model: 'gpt-4o',
				messages: USER_MESSAGES,
				stream: true,
				stream_options: { include_usage: true }
			}),
			openAIText
		);
		expect(oai.error).toBeUndefined();
		expect(oai.texts.join('')).toBe(defaultReply('openai', 'gpt-4o', PROMPT));
		expect(oai.items.some((chunk) => chunk.usage)).toBe(false);

		const orKey = newKey();
		fake.registerKey('openrouter', orKey, 'no_usage');
		const or = await drain(
			await openrouter(orKey).chat.completions.create({
				model: 'openai/gpt-4o',
				messages: USER_MESSAGES,
				stream: true
			}),
			openAIText
		);
		expect(or.error).toBeUndefined();
		expect(or.items.some((chunk) => chunk.usage)).toBe(false);

		const antKey = newKey();
		fake.registerKey('anthropic', antKey, 'no_usage');
		const final = await anthropic(antKey)
			.messages.stream({ model: 'claude-sonnet-4', max_tokens: 64, messages: USER_MESSAGES })
			.finalMessage();
		expect(final.content).toEqual([{ type: 'text', text: defaultReply('anthropic', 'claude-sonnet-4', PROMPT) }]);
		expect(final.usage.input_tokens).toBeUndefined();
		expect(final.usage.output_tokens).toBeUndefined();
		const plain = await anthropic(antKey).messages.create({
			model: 'claude-sonnet-4',
			max_tokens: 64,
			messages: USER_MESSAGES
		});
		expect(plain.usage).toBeUndefined();

		const gKey = newKey();
		fake.registerKey('google', gKey, 'no_usage');
		const result = await gemini(gKey).generateContentStream(PROMPT);
		const goo = await drain(result.stream, (chunk) => chunk.text());
		expect(goo.error).toBeUndefined();
		expect((await result.response).usageMetadata).toBeUndefined();
	});
});

describe('timing', () => {
	it('slow delays the first byte by firstByteDelayMs', async () => {
		const key = newKey();
		fake.registerKey('anthropic', key, { behaviour: 'slow', firstByteDelayMs: 300 });
		const started = Date.now();
		const message = await anthropic(key).messages.create({
			model: 'claude-sonnet-4',
			max_tokens: 64,
			messages: USER_MESSAGES
		});
		const elapsed = Date.now() - started;
		expect(message.content).toHaveLength(1);
		expect(elapsed).toBeGreaterThanOrEqual(280);
		expect(elapsed).toBeLessThan(3000);
		const entry = lastRequest();
		expect((entry.firstByteAt ?? 0) - entry.startedAt).toBeGreaterThanOrEqual(290);
	});

	it('a client abort mid-stream is logged as closedByClient within 1 s', async () => {
		const key = newKey();
		fake.registerKey('openai', key, {
			behaviour: 'ok',
			chunkDelayMs: 150,
			reply: 'many words '.repeat(40)
		});
		const controller = new AbortController();
		const stream = await openai(key).chat.completions.create(
			{ model: 'gpt-4o', messages: USER_MESSAGES, stream: true },
			{ signal: controller.signal }
		);
		const { texts } = await drain(stream, (chunk) => {
			const text = openAIText(chunk);
			if (text) controller.abort();
			return text;
		});
		expect(texts).toHaveLength(1);
		const abortedAt = Date.now();
		await waitFor(() => lastRequest().closedByClient, 1000);
		const entry = lastRequest();
		expect(entry).toMatchObject({ closedByClient: true, completed: false });
		expect(entry.endedAt).toBeGreaterThanOrEqual(entry.startedAt);
		expect((entry.endedAt ?? Infinity) - abortedAt).toBeLessThan(1000);
	});

	it('a client abort while waiting for a slow first byte is logged too', async () => {
		const key = newKey();
		fake.registerKey('google', key, { behaviour: 'slow', firstByteDelayMs: 5000 });
		const controller = new AbortController();
		setTimeout(() => controller.abort(), 100);
		const error = await gemini(key)
			.generateContent(PROMPT, { signal: controller.signal })
			.catch((e: unknown) => e);
		expect(error).toBeInstanceOf(Error);
		await waitFor(() => lastRequest().closedByClient, 1000);
		expect(lastRequest().firstByteAt).toBeUndefined();
	});
});

describe('control plane over HTTP', () => {
	async function control(path: string, body?: unknown): Promise<Response> {
		return fetch(`${fake.url}/__control${path}`, {
			method: body === undefined && path !== '/reset' ? 'GET' : 'POST',
			headers: { 'content-type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body)
		});
	}

	it('registers keys, exposes the log and resets', async () => {
		const key = newKey();
		const registered = await control('/keys', {
			provider: 'openai',
			key,
			behaviour: 'ok',
			reply: 'Via control.'
		});
		expect(registered.status).toBe(200);
		const completion = await openai(key).chat.completions.create({
			model: 'gpt-4o',
			messages: USER_MESSAGES
		});
		expect(completion.choices[0]?.message.content).toBe('Via control.');

		const log: unknown = await (await control('/requests')).json();
		expect(log).toMatchObject([{ provider: 'openai', kind: 'chat', key: key.slice(-4), completed: true }]);

		expect((await control('/keys', { provider: 'openai', key, behaviour: 'nope' })).status).toBe(400);
		expect((await control('/keys', { provider: 'azure', key })).status).toBe(400);

		expect((await control('/reset', {})).status).toBe(200);
		await expect(openai(key).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
		expect(fake.requests).toHaveLength(1); // only the failed models call, after the reset
	});

	it('cli.ts prints its base URLs and stops on SIGTERM', async () => {
		const child = spawn(process.execPath, ['--import', 'tsx', 'tests/fakes/cli.ts', '--port', '0'], {
			cwd: process.cwd(),
			stdio: ['ignore', 'pipe', 'inherit']
		});
		try {
			const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
			const printed: unknown = JSON.parse(line);
			expect(printed).toMatchObject({ openai: expect.stringMatching(/\/openai\/v1$/) });
			const url = isRecord(printed) && typeof printed.url === 'string' ? printed.url : '';
			const health = await fetch(`${url}/__control/health`);
			expect(health.status).toBe(200);
		} finally {
			const exited = once(child, 'exit');
			child.kill('SIGTERM');
			const [code] = (await exited) as [number | null];
			expect(code).toBe(0);
		}
	});
});

describe('models and the log', () => {
	it('accepts dated snapshot ids, resolving to the longest listed id', () => {
		expect(findFakeModel('anthropic', 'claude-sonnet-4-20250101')?.id).toBe('claude-sonnet-4');
		expect(findFakeModel('anthropic', 'claude-sonnet-4-5-20251231')?.id).toBe('claude-sonnet-4-5');
		expect(findFakeModel('openai', 'gpt-4o-mini-2025-01-01')?.id).toBe('gpt-4o-mini');
		expect(findFakeModel('openrouter', 'openai/gpt-4o:free')?.id).toBe('openai/gpt-4o');
		expect(findFakeModel('openai', 'gpt-6')).toBeUndefined();
	});

	it('logs model and stream of a request refused for its key, with only the key tail', async () => {
		const key = newKey();
		await openai(key)
			.chat.completions.create({ model: 'gpt-4o', messages: USER_MESSAGES, stream: true })
			.catch(() => undefined);
		expect(lastRequest()).toMatchObject({
			provider: 'openai',
			model: 'gpt-4o',
			stream: true,
			status: 401,
			behaviour: 'unknown_key',
			key: key.slice(-4),
			completed: true
		});
	});
});

describe('keys never leak', () => {
	/** A raw request of each kind for each provider, so every behaviour's body is seen. */
	function requestsFor(provider: ProviderName, key: string): [string, RequestInit][] {
		const json = { 'content-type': 'application/json' };
		const messages = USER_MESSAGES;
		switch (provider) {
			case 'openai':
			case 'openrouter': {
				const base = provider === 'openai' ? fake.baseUrls.openai : fake.baseUrls.openrouter;
				const model = provider === 'openai' ? 'gpt-4o' : 'openai/gpt-4o';
				const headers = { ...json, authorization: `Bearer ${key}` };
				return [
					[`${base}/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model, messages }) }],
					[
						`${base}/chat/completions`,
						{ method: 'POST', headers, body: JSON.stringify({ model, messages, stream: true }) }
					],
					[`${base}/models`, { headers }],
					[`${base}/key`, { headers }]
				];
			}
			case 'anthropic': {
				const headers = {
					...json,
					authorization: `Bearer ${key}`,
					'anthropic-version': '2026-10-21'
				};
				const body = { model: 'claude-sonnet-4', max_tokens: 64, messages };
				return [
					[`${fake.baseUrls.anthropic}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) }],
					[
						`${fake.baseUrls.anthropic}/v1/messages`,
						{ method: 'POST', headers, body: JSON.stringify({ ...body, stream: true }) }
					],
					[`${fake.baseUrls.anthropic}/v1/models`, { headers }]
				];
			}
			case 'google': {
				const headers = { ...json, 'x-goog-api-key': key };
				const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: PROMPT }] }] });
				const base = `${fake.baseUrls.google}/v1beta/models`;
				return [
					[`${base}/gemini-2.5-pro:generateContent`, { method: 'POST', headers, body }],
					[`${base}/gemini-2.5-pro:streamGenerateContent?alt=sse`, { method: 'POST', headers, body }],
					[base, { headers }]
				];
			}
		}
	}

	/** Everything the server sent, headers included, even if the connection was reset. */
	async function responseText(url: string, init: RequestInit): Promise<string> {
		let text = '';
		try {
			const response = await fetch(url, init);
			text += JSON.stringify([...response.headers.entries()]);
			const reader = response.body?.getReader();
			const decoder = new TextDecoder();
			for (;;) {
				const chunk = await reader?.read();
				if (!chunk || chunk.done) break;
				text += decoder.decode(chunk.value, { stream: true });
			}
		} catch {
			// reset / midstream cut: keep what arrived
		}
		return text;
	}

	it('in no response body or header, for any behaviour, nor in the log', async () => {
		const sent: string[] = [];
		const keys: string[] = [];
		for (const provider of PROVIDER_NAMES) {
			for (const behaviour of BEHAVIOURS) {
				const key = newKey(`${provider}-${behaviour}`);
				keys.push(key);
				fake.registerKey(provider, key, { behaviour, firstByteDelayMs: 0 });
				const texts = await Promise.all(requestsFor(provider, key).map(([url, init]) => responseText(url, init)));
				sent.push(...texts);
			}
			const unknownKey = newKey(`${provider}-unregistered`);
			keys.push(unknownKey);
			sent.push(...(await Promise.all(requestsFor(provider, unknownKey).map(([u, i]) => responseText(u, i)))));
		}
		const everything = sent.join('\n') + JSON.stringify(fake.requests);
		expect(sent.join('').length).toBeGreaterThan(10_000); // we did read real answers
		for (const key of keys) expect(everything).not.toContain(key);
		expect(fake.requests.every((r) => r.key.length === 4)).toBe(true);
	});
});
