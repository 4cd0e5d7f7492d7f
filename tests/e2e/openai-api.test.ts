import OpenAI, { APIError, AuthenticationError, BadRequestError, RateLimitError } from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getModel } from '$lib/server/catalog';
import type { Provider } from '$lib/server/config';
import { defaultReply, startFakeProviders, type FakeProviders } from '../fakes/server';
import { startApp, type AppServer } from '../helpers/app-server';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';
import { chunkedBody, TestClient } from '../helpers/http-client';
import { schemaErrors } from '../helpers/json-schema';
import { fakeEnv, testKey } from '../integration/keys-fixtures';

const APP_KEY = 'sk-or-v1-appkeyopenaiapi0123456789abcdefghijklmnopqrstuvw';

/** What an OpenAI client sees: the official `openai` SDK against the built server's /api/v1. */
describe(`the OpenAI-compatible API [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let app: AppServer;
	let fake: FakeProviders;
	let database: { url: string; drop(): Promise<void> } | undefined;

	beforeAll(async () => {
		fake = await startFakeProviders();
		fake.registerKey('openrouter', APP_KEY, 'ok');
		database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
		app = await startApp({ databaseUrl: database?.url, env: { ...fakeEnv(fake), OPENROUTER_API_KEY: APP_KEY } });
	});
	afterAll(async () => {
		await app?.stop();
		await fake?.close();
		await database?.drop();
	});

	let users = 0;
	/** A signed-up user with a personal access token and an SDK client using it. */
	async function apiUser() {
		const email = `api-user-${++users}@example.com`;
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email, password: 'api password 1234' });
		const { token, id: tokenId } = await client.trpc.tokens.create.mutate({ name: 'sdk' });
		return { email, client, token, tokenId, sdk: sdkWith(token) };
	}

	const sdkWith = (apiKey: string, options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
		new OpenAI({ apiKey, baseURL: `${app.url}/api/v1`, maxRetries: 0, ...options });

	/** Stores a provider key for the user (validated live, so registered `ok` first), then sets its behaviour. */
	async function addKey(client: TestClient, provider: Provider, behaviour: 'ok' | '500' | 'midstream_error' = 'ok') {
		const key = testKey(provider, `api${users}`);
		fake.registerKey(provider, key, 'ok');
		await client.trpc.keys.upsert.mutate({ provider, apiKey: key });
		fake.registerKey(provider, key, behaviour);
		return key;
	}

	async function failureOf(promise: Promise<unknown>): Promise<APIError> {
		try {
			await promise;
		} catch (error) {
			if (error instanceof APIError) return error;
			throw error;
		}
		throw new Error('expected the call to fail');
	}

	const ask = { role: 'user', content: 'Say hi' } as const;

	describe.each([
		['openai/gpt-4o-mini', 'openai'],
		['anthropic/claude-sonnet-4', 'anthropic'],
		['google/gemini-2.5-flash', 'google'],
		['openrouter/meta-llama/llama-3.3-70b-instruct', 'openrouter']
	] as const)('%s', (modelId, provider) => {
		const model = getModel(modelId)!;

		it.each(['user', 'app'] as const)(
			'answers through the %s key, streamed and not, with usage and cost that match the usage records',
			async (keySource) => {
				const { client, sdk } = await apiUser();
				if (keySource === 'user') await addKey(client, provider);
				const servedBy = keySource === 'user' ? provider : 'openrouter';
				const upstreamModel = keySource === 'user' ? model.providerModel : (model.openRouterId ?? '');
				const expectedText = defaultReply(servedBy, upstreamModel, ask.content);

				const { data: completion, response } = await sdk.chat.completions
					.create({ model: modelId, messages: [ask] })
					.withResponse();
				expect(response.headers.get('x-key-source')).toBe(keySource);
				expect(response.headers.get('x-request-id')).toBeTruthy();
				expect(schemaErrors('CreateChatCompletionResponse', completion)).toEqual([]);
				expect(completion).toMatchObject({
					id: `chatcmpl-${response.headers.get('x-request-id')}`,
					object: 'chat.completion',
					model: modelId,
					choices: [{ index: 0, message: { role: 'assistant', content: expectedText }, finish_reason: 'stop' }]
				});
				const usage = completion.usage as OpenAI.CompletionUsage & { cost: number };
				expect(usage.cost).toBeGreaterThan(0);
				expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);

				const { data: stream, response: streamed } = await sdk.chat.completions
					.create({ model: modelId, messages: [ask], stream: true, stream_options: { include_usage: true } })
					.withResponse();
				expect(streamed.headers.get('x-key-source')).toBe(keySource);
				expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
				const chunks: OpenAI.ChatCompletionChunk[] = [];
				for await (const chunk of stream) chunks.push(chunk);
				for (const chunk of chunks) expect(schemaErrors('CreateChatCompletionStreamResponse', chunk)).toEqual([]);
				expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
				expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(expectedText);
				expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
				const last = chunks.at(-1)!;
				expect(last.choices).toEqual([]);
				const streamUsage = last.usage as OpenAI.CompletionUsage & { cost: number };
				expect(streamUsage.cost).toBeGreaterThan(0);
				expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);

				// One usage record per request, with the same cost the API reported. The record is written
				// while the last chunk goes out, so it may land a moment after the stream ends.
				await expect
					.poll(async () => {
						const summary = await client.trpc.usage.summary.query();
						return { totals: summary.totals, costMicros: summary.costMicros };
					})
					.toEqual({
						totals: [expect.objectContaining({ provider, keySource, requests: 2, failedRequests: 0 })],
						costMicros: Math.round((usage.cost + streamUsage.cost) * 1_000_000)
					});
			}
		);
	});

	it('ends the raw stream with data: [DONE] and sends no usage without include_usage', async () => {
		const { token } = await apiUser();
		const response = await fetch(`${app.url}/api/v1/chat/completions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
			body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [ask], stream: true })
		});
		expect(response.status).toBe(200);
		expect(response.headers.get('x-key-source')).toBe('app');
		expect(response.headers.get('x-fallback-reason')).toBe('no_key');
		const text = await response.text();
		const blocks = text.split('\n\n').filter(Boolean);
		expect(blocks.every((b) => b.startsWith('data: '))).toBe(true);
		expect(blocks.at(-1)).toBe('data: [DONE]');
		const chunks = blocks.slice(0, -1).map((b) => JSON.parse(b.slice(6)) as Record<string, unknown>);
		expect(chunks.every((c) => !('usage' in c))).toBe(true);
	});

	it('lists every catalog model to a token holder, in OpenAI’s shape', async () => {
		const { sdk, token } = await apiUser();
		const ids: string[] = [];
		for await (const model of sdk.models.list()) ids.push(model.id);
		expect(ids).toEqual(
			expect.arrayContaining([
				'openai/gpt-4o-mini',
				'anthropic/claude-sonnet-4',
				'google/gemini-2.5-flash',
				'openrouter/meta-llama/llama-3.3-70b-instruct'
			])
		);
		const raw = await fetch(`${app.url}/api/v1/models`, { headers: { authorization: `Bearer ${token}` } });
		expect(schemaErrors('ListModelsResponse', await raw.json())).toEqual([]);
		const anonymous = await fetch(`${app.url}/api/v1/models`);
		expect(anonymous.status).toBe(401);
		expect(schemaErrors('ErrorResponse', await anonymous.json())).toEqual([]);
	});

	describe('authentication', () => {
		async function expectRejected(sdk: OpenAI) {
			const error = await failureOf(sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask] }));
			expect(error).toBeInstanceOf(AuthenticationError);
			expect(error).toMatchObject({ status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
			const models = await failureOf(sdk.models.list());
			expect(models).toBeInstanceOf(AuthenticationError);
			return error;
		}

		it('refuses a missing token', async () => {
			const error = await expectRejected(sdkWith('unused', { defaultHeaders: { authorization: null } }));
			expect(error.message).toMatch(/Authorization: Bearer lk_/);
		});

		it('refuses a wrong token without echoing it', async () => {
			const { token } = await apiUser();
			const wrong = `${token.slice(0, -4)}AAAA`;
			const error = await expectRejected(sdkWith(wrong));
			expect(JSON.stringify(error.error)).not.toContain(token.slice(3, 12));
			await expectRejected(sdkWith('sk-not-a-latchkey-token'));
		});

		it('judges the token before the body: a wrong token with a broken body is a 401, a right one a 400', async () => {
			const { token } = await apiUser();
			const post = (bearer: string) =>
				fetch(`${app.url}/api/v1/chat/completions`, {
					method: 'POST',
					headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
					body: '{"model": "openai/gpt-4o-mini", "messages": ['
				});
			const wrong = await post(`${token.slice(0, -4)}AAAA`);
			expect(wrong.status).toBe(401);
			expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
			const right = await post(token);
			expect(right.status).toBe(400);
			expect(((await right.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
		});

		it('refuses a revoked token', async () => {
			const { client, tokenId, sdk } = await apiUser();
			await sdk.models.list();
			await client.trpc.tokens.revoke.mutate({ id: tokenId });
			await expectRejected(sdk);
		});

		// The API cannot create an already expired token; the database can make one expire now.
		it.skipIf(!testDatabaseUrl)('refuses an expired token', async () => {
			const { tokenId, sdk } = await apiUser();
			await sdk.models.list();
			const db = new pg.Client({ connectionString: database!.url });
			await db.connect();
			try {
				await db.query(`update access_tokens set expires_at = now() - interval '1 second' where id = $1`, [tokenId]);
			} finally {
				await db.end();
			}
			await expectRejected(sdk);
		});

		it('ignores the session cookie: this API takes tokens only', async () => {
			const { client } = await apiUser();
			const response = await client.fetch('/api/v1/chat/completions', {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [ask] })
			});
			expect(response.status).toBe(401);
		});
	});

	describe('limits', () => {
		it('falls back when the own key’s hourly limit is reached, then answers 429 with retry-after', async () => {
			const { client, sdk } = await apiUser();
			await addKey(client, 'openai');
			await client.trpc.limits.set.mutate({ provider: 'openai', requestsPerHour: 1 });
			const create = () => sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask] }).withResponse();
			expect((await create()).response.headers.get('x-key-source')).toBe('user');
			const second = await create();
			expect(second.response.headers.get('x-key-source')).toBe('app');
			expect(second.response.headers.get('x-fallback-reason')).toBe('own_limit_reached');
			const refused = await failureOf(create());
			expect(refused).toBeInstanceOf(RateLimitError);
			expect(refused).toMatchObject({ status: 429, type: 'rate_limit_error', code: 'requests_per_hour' });
			expect(Number(refused.headers?.get('retry-after'))).toBeGreaterThan(0);
			expect(refused.message).toMatch(/requests-per-hour limit/);
		});

		it('counts every request even when the client repeats its x-request-id', async () => {
			const { client, sdk } = await apiUser();
			await addKey(client, 'openai');
			await client.trpc.limits.set.mutate({ provider: 'openai', requestsPerHour: 1 });
			await client.trpc.models.setFallback.mutate({ provider: 'openai', allowFallback: false });
			const headers = { 'x-request-id': 'client-chosen-id-0001' };
			const create = () =>
				sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask] }, { headers }).withResponse();
			const first = await create();
			expect(first.response.headers.get('x-request-id')).not.toBe(headers['x-request-id']);
			expect(first.data.id).toBe(`chatcmpl-${first.response.headers.get('x-request-id')}`);
			expect(await failureOf(create())).toBeInstanceOf(RateLimitError);
			await expect
				.poll(async () => (await client.trpc.usage.summary.query()).totals)
				.toEqual([expect.objectContaining({ provider: 'openai', requests: 2, failedRequests: 1 })]);
		});

		it('answers 402 when no request can fit under the daily spending caps', async () => {
			const { client, sdk } = await apiUser();
			await addKey(client, 'openai');
			await client.trpc.limits.set.mutate({ provider: 'openai', dailyCapUsd: 0.000001, appDailyCapUsd: 0.000001 });
			const refused = await failureOf(sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask] }));
			expect(refused.status).toBe(402);
			expect(refused).toMatchObject({ type: 'insufficient_quota', code: 'app_daily_cap' });
			expect(schemaErrors('ErrorResponse', { error: refused.error })).toEqual([]);
		});
	});

	describe('bad requests', () => {
		it.each([
			['an unknown model', { model: 'nope/model' }, 'model_not_found', 'model'],
			['legacy functions', { functions: [{ name: 'lookup' }] }, 'unsupported_parameter', 'functions'],
			['n = 2', { n: 2 }, 'unsupported_value', 'n'],
			[
				'an image to a model without vision',
				{
					model: 'openrouter/meta-llama/llama-3.3-70b-instruct',
					messages: [
						{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }
					]
				},
				'model_not_vision',
				'messages'
			]
		] as const)('answers %s with BadRequestError naming the field', async (_name, change, code, param) => {
			const { sdk } = await apiUser();
			const body = {
				model: 'openai/gpt-4o-mini',
				messages: [ask],
				...change
			} as OpenAI.ChatCompletionCreateParamsNonStreaming;
			const refused = await failureOf(sdk.chat.completions.create(body));
			expect(refused).toBeInstanceOf(BadRequestError);
			expect(refused).toMatchObject({ status: 400, type: 'invalid_request_error', code, param });
		});

		it('refuses a 6 MB body with an OpenAI-shaped 413, declared or chunked, and keeps serving', async () => {
			const { token, sdk } = await apiUser();
			// Large enough that the client is still sending when the server has decided: the answer
			// must still reach it (not a connection reset).
			const big = JSON.stringify({
				model: 'openai/gpt-4o-mini',
				messages: [{ role: 'user', content: 'x'.repeat(6 * 1024 * 1024) }]
			});
			const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
			const declared = await fetch(`${app.url}/api/v1/chat/completions`, { method: 'POST', headers, body: big });
			const bytes = new TextEncoder().encode(big);
			const chunked = await fetch(`${app.url}/api/v1/chat/completions`, {
				method: 'POST',
				headers,
				duplex: 'half',
				body: chunkedBody(bytes)
			} as RequestInit);
			for (const response of [declared, chunked]) {
				expect(response.status).toBe(413);
				const body = (await response.json()) as { error: { code: string } };
				expect(schemaErrors('ErrorResponse', body)).toEqual([]);
				expect(body.error.code).toBe('request_too_large');
			}
			const after = await sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask] });
			expect(after.choices[0]?.message.content).toContain('You said: Say hi');
		});
	});

	describe('upstream failures', () => {
		it('answers 502 when the own key fails and fallback is off', async () => {
			const { client, sdk } = await apiUser();
			await addKey(client, 'openai', '500');
			await client.trpc.models.setFallback.mutate({ provider: 'openai', allowFallback: false });
			const refused = await failureOf(sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask] }));
			expect(refused.status).toBe(502);
			expect(schemaErrors('ErrorResponse', { error: refused.error })).toEqual([]);
			expect(refused.code).toMatch(/^upstream_/);
		});

		it('surfaces a failure after the first token as an SDK error, keeping the text that arrived', async () => {
			const { client, sdk } = await apiUser();
			await addKey(client, 'openai', 'midstream_error');
			const stream = await sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask], stream: true });
			let text = '';
			const error = await failureOf(
				(async () => {
					for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
				})()
			);
			expect(text.length).toBeGreaterThan(0);
			expect(error.message).toMatch(/stopped in the middle of the answer/);
			expect(error.code).toMatch(/^upstream_/);
			await expect
				.poll(async () => (await client.trpc.usage.summary.query()).totals)
				.toEqual([expect.objectContaining({ provider: 'openai', keySource: 'user', requests: 1, failedRequests: 1 })]);
		});
	});

	it('closes the provider call when the client stops reading a stream, and records the request once', async () => {
		const { client, sdk } = await apiUser();
		const key = testKey('openai', 'quitter');
		fake.registerKey('openai', key, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		fake.registerKey('openai', key, {
			behaviour: 'ok',
			chunkDelayMs: 300,
			reply: Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ')
		});
		const stream = await sdk.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [ask], stream: true });
		for await (const chunk of stream) {
			if (chunk.choices[0]?.delta.content) break; // leaving the loop aborts the HTTP request
		}
		const upstream = () => fake.requests.filter((r) => r.key === key.slice(-4) && r.kind === 'chat').at(-1);
		await expect.poll(() => upstream()?.closedByClient, { timeout: 3000, interval: 20 }).toBe(true);
		await expect
			.poll(async () => (await client.trpc.usage.summary.query()).totals, { timeout: 3000 })
			.toEqual([expect.objectContaining({ provider: 'openai', keySource: 'user', requests: 1, failedRequests: 1 })]);
	});

	it.skipIf(!testDatabaseUrl)('records each API request once, as api = openai', async () => {
		const { email, client, sdk } = await apiUser();
		await addKey(client, 'anthropic');
		await sdk.chat.completions.create({ model: 'anthropic/claude-sonnet-4', messages: [ask] });
		const stream = await sdk.chat.completions.create({
			model: 'google/gemini-2.5-flash',
			messages: [ask],
			stream: true
		});
		for await (const _chunk of stream) {
			// drain
		}
		await failureOf(sdk.chat.completions.create({ model: 'anthropic/claude-sonnet-4', messages: [ask], n: 2 }));
		const db = new pg.Client({ connectionString: database!.url });
		await db.connect();
		try {
			// A streamed answer's record is written while its last event goes out, not before.
			const rows = async () =>
				(
					await db.query<{ api: string; model: string; key_source: string }>(
						`select api, model, key_source from usage_records
						 where user_id = (select id from users where email = $1) order by created_at, id`,
						[email]
					)
				).rows;
			await expect.poll(rows, { timeout: 5_000 }).toEqual([
				{ api: 'openai', model: 'anthropic/claude-sonnet-4', key_source: 'user' },
				{ api: 'openai', model: 'google/gemini-2.5-flash', key_source: 'app' }
			]);
		} finally {
			await db.end();
		}
	});
});
