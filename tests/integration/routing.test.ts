import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { costMicros, getModel } from '$lib/server/catalog';

import { setFallbackPreference, startChat, type ChatSession, type SessionEvent } from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import type { Provider } from '$lib/server/config';
import {
	fakePriceOf,
	startFakeProviders,
	usageFor,
	type Behaviour,
	type BehaviourSpec,
	type FakeProviders
} from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

/** What the OpenRouter fake reports for a call (tokens × its listed price), in micro-dollars rounded up. */
function openRouterCost(model: string, promptTokens: number, completionTokens: number): number {
	const price = fakePriceOf(model);
	return Math.ceil(
		(promptTokens * price.promptMicroUsdPerMTok + completionTokens * price.completionMicroUsdPerMTok) / 1e6
	);
}

const APP_KEY = 'sk-or-v1-appkey0123456789abcdefghijklmnopqrstuvwxyz0123';

interface Ended {
	text: string;
	end: Exclude<SessionEvent, { type: 'delta' }> | undefined;
}

async function readAll(session: ChatSession): Promise<Ended> {
	let text = '';
	let end: Ended['end'];
	for await (const event of session.events) {
		if (event.type === 'delta') text += event.text;
		else end = event;
	}
	return { text, end };
}

describeEachDatabase('chat routing', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, {
			...fakeEnv(fake),
			OPENROUTER_API_KEY: APP_KEY,
			PROVIDER_TIMEOUT_MS: '2000'
		});
	});
	afterAll(async () => {
		await fake.close();
	});
	beforeEach(() => {
		fake.registerKey('openrouter', APP_KEY, 'ok');
	});

	/** A user holding a working key for `provider`, whose behaviour can then be changed. */
	async function userWithKey(
		provider: Provider,
		behaviour: Behaviour | BehaviourSpec = 'ok'
	): Promise<{ user: TestUser; key: string }> {
		const user = await createUser(services.db, provider);
		const key = testKey(provider, 'rt');
		fake.registerKey(provider, key, 'ok');
		await callerFor(services, user).keys.upsert({ provider, apiKey: key });
		fake.registerKey(provider, key, behaviour);
		return { user, key };
	}

	const chat = (
		user: TestUser,
		model: string,
		options: { stream?: boolean; content?: string; signal?: AbortSignal } = {}
	) =>
		startChat(chatDeps(services), {
			principal: { kind: 'session', userId: user.id },
			modelId: model,
			messages: [{ role: 'user', content: options.content ?? 'What is a latchkey?' }],
			stream: options.stream ?? true,
			api: 'web',
			requestId: randomUUID(),
			signal: options.signal ?? new AbortController().signal
		});

	const usageRow = (requestId: string) =>
		services.db.selectFrom('usage_records').selectAll().where('request_id', '=', requestId).execute();

	const chatRequests = () => fake.requests.filter((r) => r.kind === 'chat');

	const usageRowsOf = (user: TestUser) =>
		services.db.selectFrom('usage_records').selectAll().where('user_id', '=', user.id).execute();

	/** The request left one usage row: the app key's successful answer, naming why it fell back. */
	const expectOneAppKeyAnswer = async (user: TestUser, requestId: string, reason: string) => {
		const rows = await usageRowsOf(user);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({
			request_id: requestId,
			key_source: 'app',
			served_by: 'openrouter',
			success: true,
			error_code: null,
			fallback_reason: reason
		});
		return rows[0]!;
	};

	/** The spending-cap reservations a request took, one per key source tried, oldest first. */
	const reservationsOf = (user: TestUser) =>
		services.db
			.selectFrom('limit_reservations')
			.select(['request_id', 'key_source', 'outcome', 'amount_micros', 'cost_micros'])
			.where('user_id', '=', user.id)
			.orderBy('request_id')
			.execute();

	it.each([
		['openai/gpt-4o-mini', 'openai', 'gpt-4o-mini'],
		['anthropic/claude-sonnet-4', 'anthropic', 'claude-sonnet-4'],
		['google/gemini-2.5-flash', 'google', 'gemini-2.5-flash'],
		['openrouter/meta-llama/llama-3.3-70b-instruct', 'openrouter', 'meta-llama/llama-3.3-70b-instruct']
	] as const)(
		'answers %s with the user’s own key, streamed and not, billed at the catalog price',
		async (modelId, provider, upstreamModel) => {
			const { user } = await userWithKey(provider);
			for (const stream of [true, false]) {
				const session = await chat(user, modelId, { stream });
				expect(session).toMatchObject({ keySource: 'user', servedBy: provider, fallback: null });
				const { text, end } = await readAll(session);
				const prompt = 'What is a latchkey?';
				expect(text).toContain(`Hello from fake-${provider}`);
				expect(text).toContain(`You said: ${prompt}`);
				expect(text).toContain(upstreamModel);
				const expected = usageFor([prompt], text);
				expect(end).toMatchObject({ type: 'done', finishReason: 'stop' });
				const [row] = await usageRow(session.requestId);
				const model = getModel(modelId)!;
				expect(row).toMatchObject({
					user_id: user.id,
					provider,
					model: modelId,
					key_source: 'user',
					served_by: provider,
					success: true,
					error_code: null,
					prompt_tokens: expected.promptTokens,
					completion_tokens: expected.completionTokens,
					// OpenRouter's reported cost is the truth for its calls; the others at the catalog's price.
					cost_micros:
						provider === 'openrouter'
							? openRouterCost(upstreamModel, expected.promptTokens, expected.completionTokens)
							: costMicros(model, expected.promptTokens, expected.completionTokens),
					estimated: false
				});
				expect(row?.cost_micros).toBeGreaterThan(0);
			}
		}
	);

	it('falls back to the app key through OpenRouter when the user has no key, and says so', async () => {
		const user = await createUser(services.db, 'nokey');
		const session = await chat(user, 'openai/gpt-4o-mini');
		expect(session).toMatchObject({ keySource: 'app', servedBy: 'openrouter' });
		expect(session.fallback).toEqual({
			reason: 'no_key',
			message: "You have no OpenAI key, so the app's key answered."
		});
		const { text } = await readAll(session);
		expect(text).toContain('Hello from fake-openrouter (model openai/gpt-4o-mini)');
		const [row] = await usageRow(session.requestId);
		expect(row).toMatchObject({ key_source: 'app', served_by: 'openrouter', fallback_reason: 'no_key', success: true });
		// OpenRouter reports its own cost for the app key; it matches the catalog's price here.
		const expected = usageFor(['What is a latchkey?'], text);
		expect(row?.cost_micros).toBe(
			costMicros(getModel('openai/gpt-4o-mini')!, expected.promptTokens, expected.completionTokens)
		);
	});

	it('marks a rejected key invalid and falls back to the app key before the first token', async () => {
		const { user } = await userWithKey('anthropic', '401');
		const session = await chat(user, 'anthropic/claude-sonnet-4');
		expect(session.keySource).toBe('app');
		expect(session.fallback?.reason).toBe('key_rejected');
		expect(session.fallback?.message).toMatch(
			/^Anthropic rejected your key \(401\), so the app's key answered\. Your key is now marked invalid/
		);
		const { text, end } = await readAll(session);
		expect(text).toContain('Hello from fake-openrouter (model anthropic/claude-sonnet-4)');
		expect(end).toMatchObject({ type: 'done' });
		// One usage row for the request: the app key's answer, which says why it was used. The own
		// key's failed attempt cost nothing: its reservation was returned, not charged.
		const row = await expectOneAppKeyAnswer(user, session.requestId, 'key_rejected');
		expect(row.cost_micros).toBeGreaterThan(0);
		expect(await reservationsOf(user)).toEqual([
			expect.objectContaining({ request_id: `${session.requestId}:0`, key_source: 'user', outcome: 'released' }),
			expect.objectContaining({ request_id: `${session.requestId}:1`, key_source: 'app', outcome: 'settled' })
		]);
		const [key] = await callerFor(services, user).keys.list();
		expect(key?.status).toBe('invalid');
		const notices = await callerFor(services, user).notifications.list({});
		expect(notices.map((n) => [n.kind, n.message])).toEqual([
			[
				'key_invalid',
				`Anthropic rejected your key (…${key!.last4}), so it is marked invalid. Replace or re-test it on the API keys page.`
			]
		]);
		// The next request does not try the invalid key again.
		const before = chatRequests().filter((r) => r.provider === 'anthropic').length;
		const next = await chat(user, 'anthropic/claude-sonnet-4');
		expect(next.fallback?.reason).toBe('key_invalid');
		await readAll(next);
		expect(chatRequests().filter((r) => r.provider === 'anthropic')).toHaveLength(before);
	});

	it.each([
		['429', 'rate_limited', /rate-limited your key \(429\)/],
		['500', 'upstream_error', /OpenAI failed \(500\)/]
	] as const)('retries once on %s, then falls back to the app key', async (behaviour, reason, message) => {
		const { user, key } = await userWithKey('openai', behaviour);
		const session = await chat(user, 'openai/gpt-4o-mini');
		await readAll(session);
		expect(session.keySource).toBe('app');
		expect(session.fallback?.reason).toBe(reason);
		expect(session.fallback?.message).toMatch(message);
		expect(chatRequests().filter((r) => r.provider === 'openai' && r.key === key.slice(-4))).toHaveLength(2);
		const [key1] = await callerFor(services, user).keys.list();
		expect(key1?.status).toBe('valid');
		const row = await expectOneAppKeyAnswer(user, session.requestId, reason);
		// Both tries of the own key ran under one reservation, returned; only the app key's answer is charged.
		const reservations = await reservationsOf(user);
		expect(reservations.map((r) => [r.request_id, r.key_source, r.outcome])).toEqual([
			[`${session.requestId}:0`, 'user', 'released'],
			[`${session.requestId}:1`, 'app', 'settled']
		]);
		expect(reservations[1]?.cost_micros).toBe(row.cost_micros);
	});

	it('falls back when the connection resets before the first token (non-stream)', async () => {
		const { user } = await userWithKey('google', 'reset');
		const session = await chat(user, 'google/gemini-2.5-flash', { stream: false });
		expect(session.keySource).toBe('app');
		expect(session.fallback?.reason).toBe('network');
		expect((await readAll(session)).text).toContain('fake-openrouter');
	});

	it('retries once when the connection resets before any byte of a stream, then falls back', async () => {
		const { user, key } = await userWithKey('anthropic', 'reset_before');
		const session = await chat(user, 'anthropic/claude-sonnet-4', { stream: true });
		expect(session).toMatchObject({ keySource: 'app', servedBy: 'openrouter' });
		expect(session.fallback).toEqual({
			reason: 'network',
			message: "Anthropic failed, so the app's key answered."
		});
		const { text, end } = await readAll(session);
		expect(text).toContain('Hello from fake-openrouter (model anthropic/claude-sonnet-4)');
		expect(text).not.toContain('fake-anthropic');
		expect(end).toMatchObject({ type: 'done', finishReason: 'stop' });
		const ownTries = chatRequests().filter((r) => r.provider === 'anthropic' && r.key === key.slice(-4));
		expect(ownTries.map((r) => [r.stream, r.status, r.completed])).toEqual([
			[true, undefined, false],
			[true, undefined, false]
		]);
		// A dropped connection says nothing about the key.
		expect((await callerFor(services, user).keys.list())[0]?.status).toBe('valid');
		const row = await expectOneAppKeyAnswer(user, session.requestId, 'network');
		expect(row.estimated).toBe(false);
		expect((await reservationsOf(user)).map((r) => [r.key_source, r.outcome])).toEqual([
			['user', 'released'],
			['app', 'settled']
		]);
	});

	it('retries once when the provider is slower than PROVIDER_TIMEOUT_MS, then falls back', async () => {
		const hasty = await testServices(database().handle, {
			...fakeEnv(fake),
			OPENROUTER_API_KEY: APP_KEY,
			PROVIDER_TIMEOUT_MS: '1000'
		});
		const { user, key } = await userWithKey('openai', 'ok');
		fake.registerKey('openai', key, { behaviour: 'slow', firstByteDelayMs: 5000 });
		const started = Date.now();
		const session = await startChat(chatDeps(hasty), {
			principal: { kind: 'session', userId: user.id },
			modelId: 'openai/gpt-4o-mini',
			messages: [{ role: 'user', content: 'Are you there?' }],
			stream: true,
			api: 'web',
			requestId: randomUUID(),
			signal: new AbortController().signal
		});
		const elapsed = Date.now() - started;
		expect(session).toMatchObject({ keySource: 'app', servedBy: 'openrouter' });
		expect(session.fallback).toEqual({
			reason: 'timeout',
			message: "OpenAI did not answer in time, so the app's key answered."
		});
		// Two tries of about a second each: less than the fake's one slow answer.
		expect(elapsed).toBeGreaterThanOrEqual(2000);
		expect(elapsed).toBeLessThan(5000);
		const { text, end } = await readAll(session);
		expect(text).toContain('Hello from fake-openrouter (model openai/gpt-4o-mini)');
		expect(end).toMatchObject({ type: 'done' });
		const ownTries = chatRequests().filter((r) => r.provider === 'openai' && r.key === key.slice(-4));
		expect(ownTries).toHaveLength(2);
		// The app stopped waiting and hung up on both.
		await expect.poll(() => ownTries.every((r) => r.closedByClient), { timeout: 1000 }).toBe(true);
		await expectOneAppKeyAnswer(user, session.requestId, 'timeout');
		expect((await reservationsOf(user)).map((r) => [r.key_source, r.outcome])).toEqual([
			['user', 'released'],
			['app', 'settled']
		]);
	});

	it('ends with an error after the first token and never splices in a second answer', async () => {
		const { user } = await userWithKey('openai', 'reset');
		const before = chatRequests().filter((r) => r.provider === 'openrouter').length;
		const session = await chat(user, 'openai/gpt-4o-mini');
		expect(session.keySource).toBe('user');
		const { text, end } = await readAll(session);
		expect(text.length).toBeGreaterThan(0);
		expect(end?.type).toBe('error');
		if (end?.type !== 'error') throw new Error('unreachable');
		expect(end.error.message).toMatch(/OpenAI stopped in the middle of the answer.*incomplete/);
		expect(chatRequests().filter((r) => r.provider === 'openrouter')).toHaveLength(before);
		const rows = await usageRow(session.requestId);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({
			success: false,
			error_code: 'upstream_network',
			key_source: 'user',
			estimated: true
		});
		expect(rows[0]?.completion_tokens).toBeGreaterThan(0);
	});

	it('gives a clear error instead of the app key when the user turned fallback off', async () => {
		const user = await createUser(services.db, 'nofallback');
		await setFallbackPreference(services.db, user.id, { provider: 'openai', allowFallback: false });
		const calls = chatRequests().length;
		const noKey = await appErrorFrom(chat(user, 'openai/gpt-4o-mini'));
		expect(noKey).toMatchObject({ code: 'bad_request', status: 400, reason: 'no_key' });
		expect(noKey.message).toBe(
			'You have no OpenAI key, and fallback to the app key is off for OpenAI. Add a key on the API keys page, or turn fallback on.'
		);
		// Refused before anything was reserved or called: no usage row, no reservation, no provider call.
		expect(await usageRowsOf(user)).toEqual([]);
		expect(await reservationsOf(user)).toEqual([]);
		expect(chatRequests()).toHaveLength(calls);

		const { user: withKey } = await userWithKey('openai', '401');
		await setFallbackPreference(services.db, withKey.id, { provider: 'openai', allowFallback: false });
		const rejected = await appErrorFrom(chat(withKey, 'openai/gpt-4o-mini'));
		expect(rejected.status).toBe(502);
		expect(rejected.reason).toBe('upstream_auth');
		const rows = await services.db.selectFrom('usage_records').selectAll().where('user_id', '=', withKey.id).execute();
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ success: false, key_source: 'user', error_code: 'upstream_auth' });
		// The own key's reservation was returned, and the app key was never tried.
		expect((await reservationsOf(withKey)).map((r) => [r.key_source, r.outcome])).toEqual([['user', 'released']]);
	});

	it("records the key's last use at most once a minute, after the answer", async () => {
		const { user } = await userWithKey('anthropic');
		const lastUsed = async () =>
			(
				await services.db
					.selectFrom('provider_keys')
					.select(['id', 'last_used_at'])
					.where('user_id', '=', user.id)
					.executeTakeFirstOrThrow()
			).last_used_at;
		expect(await lastUsed()).toBeNull();
		await readAll(await chat(user, 'anthropic/claude-sonnet-4'));
		const first = await lastUsed();
		expect(first).toBeInstanceOf(Date);
		await readAll(await chat(user, 'anthropic/claude-sonnet-4'));
		expect(await lastUsed()).toEqual(first);

		const twoMinutesAgo = new Date(Date.now() - 120_000);
		await services.db
			.updateTable('provider_keys')
			.set({ last_used_at: twoMinutesAgo })
			.where('user_id', '=', user.id)
			.execute();
		await readAll(await chat(user, 'anthropic/claude-sonnet-4'));
		expect((await lastUsed())?.getTime()).toBeGreaterThan(twoMinutesAgo.getTime() + 60_000);
	});

	it('estimates tokens with the tokenizer when the provider sends no usage', async () => {
		const { user } = await userWithKey('openai', 'no_usage');
		const session = await chat(user, 'openai/gpt-4o-mini');
		const { end } = await readAll(session);
		expect(end).toMatchObject({ type: 'done', usage: { estimated: true } });
		const [row] = await usageRow(session.requestId);
		expect(row).toMatchObject({ estimated: true, success: true });
		expect(row!.prompt_tokens).toBeGreaterThan(0);
		expect(row!.completion_tokens).toBeGreaterThan(0);
		expect(row!.cost_micros).toBeGreaterThan(0);
	});

	it.each([
		['openai', 'openai/gpt-4o-mini', true],
		['openai', 'openai/gpt-4o-mini', false],
		['anthropic', 'anthropic/claude-sonnet-4', true],
		['openrouter', 'openrouter/meta-llama/llama-3.3-70b-instruct', true]
	] as const)(
		'records impossible usage from %s (%s, stream %s) as our estimate, settles it, and ends the answer',
		async (provider, modelId, stream) => {
			const { user } = await userWithKey(provider, {
				behaviour: 'ok',
				reportUsage: { promptTokens: 1e300, completionTokens: 7 }
			});
			const session = await chat(user, modelId, { stream });
			const { text, end } = await readAll(session);
			expect(text.length).toBeGreaterThan(0);
			expect(end).toMatchObject({ type: 'done', usage: { estimated: true } });
			const [row] = await usageRow(session.requestId);
			expect(row).toMatchObject({ success: true, estimated: true, error_code: null });
			expect(row!.prompt_tokens).toBeLessThan(100);
			expect(row!.cost_micros).toBeGreaterThan(0);
			expect(row!.cost_micros).toBeLessThanOrEqual((await reservationsOf(user))[0]!.amount_micros);
			expect((await reservationsOf(user)).map((r) => r.outcome)).toEqual(['settled']);
		}
	);

	it('rejects an unknown model and a conversation too long for the model, recording nothing', async () => {
		const user = await createUser(services.db, 'badinput');
		expect(await appErrorFrom(chat(user, 'openai/gpt-9'))).toMatchObject({
			code: 'bad_request',
			reason: 'model_not_found'
		});
		const huge = 'word '.repeat(140_000);
		expect(await appErrorFrom(chat(user, 'openai/gpt-4o-mini', { content: huge }))).toMatchObject({
			reason: 'context_length_exceeded'
		});
		expect(await services.db.selectFrom('usage_records').selectAll().where('user_id', '=', user.id).execute()).toEqual(
			[]
		);
	});

	it('reserves worst-case tokens against tokens per hour, and refuses with a 400 a request that can never fit', async () => {
		const { user } = await userWithKey('openai');
		await callerFor(services, user).limits.set({ provider: 'openai', tokensPerHour: 1_000 });
		// The default answer budget (4,096 tokens) alone is over the limit, on the own key and the app key.
		const tooBig = await appErrorFrom(chat(user, 'openai/gpt-4o-mini'));
		expect(tooBig).toMatchObject({ code: 'bad_request', status: 400, reason: 'request_exceeds_tokens_per_hour' });
		expect(tooBig.message).toMatch(/more than your whole OpenAI tokens-per-hour limit on the app's key \(1,000\)/);

		const session = await startChat(chatDeps(services), {
			principal: { kind: 'session', userId: user.id },
			modelId: 'openai/gpt-4o-mini',
			messages: [{ role: 'user', content: 'What is a latchkey?' }],
			maxOutputTokens: 200,
			stream: true,
			api: 'web',
			requestId: randomUUID(),
			signal: new AbortController().signal
		});
		expect(session.keySource).toBe('user');
		await readAll(session);
		const [row] = await usageRow(session.requestId);
		const hour = await services.db
			.selectFrom('limit_hourly')
			.select(['requests', 'tokens', 'reserved_tokens'])
			.where('user_id', '=', user.id)
			.where('key_source', '=', 'user')
			.executeTakeFirstOrThrow();
		expect(hour).toEqual({
			requests: 1,
			tokens: row!.prompt_tokens + row!.completion_tokens,
			reserved_tokens: 0
		});
	});

	it('stops the upstream call when the client goes away, and records one aborted usage row', async () => {
		const user = await createUser(services.db, 'abort');
		const key = testKey('openai', 'ab');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		fake.registerKey('openai', key, {
			behaviour: 'ok',
			chunkDelayMs: 200,
			reply: 'one two three four five six seven eight nine ten eleven twelve'
		});
		const client = new AbortController();
		const session = await chat(user, 'openai/gpt-4o-mini', { signal: client.signal });
		const iterator = session.events[Symbol.asyncIterator]();
		await iterator.next();
		client.abort();
		session.abort();
		await iterator.return(undefined);
		const upstream = chatRequests()
			.filter((r) => r.key === key.slice(-4))
			.at(-1);
		await expect.poll(() => upstream?.closedByClient, { timeout: 1000 }).toBe(true);
		const rows = await usageRow(session.requestId);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ success: false, error_code: 'client_aborted', estimated: true });
	});
});
