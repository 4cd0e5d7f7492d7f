import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, scrubLogObject } from '$lib/server/log';
import { chatOutcomeOf, createMetrics, metricsAccessAllowed } from '$lib/server/metrics';
import type { KyselyPlugin } from 'kysely';
import { ActiveChats, startChat, type ChatSession, type SessionEvent } from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import type { Provider } from '$lib/server/config';
import { startFakeProviders, type Behaviour, type BehaviourSpec, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { createAccessToken } from '../helpers/tokens';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

const APP_KEY = 'sk-or-v1-appkeymetrics0123456789abcdefghijklmnopqrstuvwxy';

/** One sample of the text exposition: `name{a="x",b="y"} value`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
	for (const line of text.split('\n')) {
		if (line.startsWith('#')) continue;
		const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		if (!match || match[1] !== name) continue;
		const present = Object.fromEntries(
			[...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])
		);
		if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
	}
	return undefined;
}

async function readAll(session: ChatSession): Promise<{ text: string; end: SessionEvent | undefined }> {
	let text = '';
	let end: SessionEvent | undefined;
	for await (const event of session.events) {
		if (event.type === 'delta') text += event.text;
		else end = event;
	}
	return { text, end };
}

describeEachDatabase('metrics of the chat path', (database) => {
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

	async function userWithKey(
		provider: Provider,
		behaviour: Behaviour | BehaviourSpec = 'ok'
	): Promise<{ user: TestUser; key: string }> {
		const user = await createUser(services.db, provider);
		const key = testKey(provider, 'mx');
		fake.registerKey(provider, key, 'ok');
		await callerFor(services, user).keys.upsert({ provider, apiKey: key });
		fake.registerKey(provider, key, behaviour);
		return { user, key };
	}

	const chat = (user: TestUser, model: string, signal = new AbortController().signal) =>
		startChat(chatDeps(services), {
			principal: { kind: 'session', userId: user.id },
			modelId: model,
			messages: [{ role: 'user', content: 'How are metrics named?' }],
			stream: true,
			api: 'web',
			requestId: randomUUID(),
			signal
		});

	const scrape = () => services.metrics.render();

	it('counts answered requests by provider, key source and outcome, with spend, tokens and latencies', async () => {
		const { user } = await userWithKey('anthropic');
		const before = await scrape();
		const labels = { provider: 'anthropic', key_source: 'user' };
		const count = (text: string) =>
			sample(text, 'latchkey_chat_requests_total', { ...labels, outcome: 'success' }) ?? 0;
		const spent = (text: string) => sample(text, 'latchkey_spend_microdollars_total', labels) ?? 0;

		const { end } = await readAll(await chat(user, 'anthropic/claude-sonnet-4'));
		expect(end?.type).toBe('done');
		const after = await scrape();
		expect(count(after) - count(before)).toBe(1);
		const usage = end?.type === 'done' ? end.usage : undefined;
		expect(spent(after) - spent(before)).toBe(usage?.costMicros);
		expect(sample(after, 'latchkey_tokens_total', { ...labels, kind: 'completion' })).toBeGreaterThan(0);
		expect(sample(after, 'latchkey_time_to_first_token_seconds_count', labels)).toBeGreaterThanOrEqual(1);
		expect(
			sample(after, 'latchkey_chat_duration_seconds_count', { ...labels, outcome: 'success' })
		).toBeGreaterThanOrEqual(1);
		expect(sample(after, 'latchkey_active_streams')).toBe(0);
	});

	it('counts a fallback by its reason and the failed attempt by its failure kind', async () => {
		const { user } = await userWithKey('openai', '401');
		const session = await chat(user, 'openai/gpt-4o-mini');
		expect(session.keySource).toBe('app');
		await readAll(session);
		const text = await scrape();
		expect(sample(text, 'latchkey_fallbacks_total', { provider: 'openai', reason: 'key_rejected' })).toBeGreaterThan(0);
		expect(
			sample(text, 'latchkey_provider_failures_total', {
				provider: 'openai',
				key_source: 'user',
				failure: 'auth',
				phase: 'before_first_token'
			})
		).toBeGreaterThan(0);
		expect(
			sample(text, 'latchkey_chat_requests_total', { provider: 'openai', key_source: 'app', outcome: 'success' })
		).toBeGreaterThan(0);
	});

	it('counts rate-limit and spending-cap refusals by the limit that refused', async () => {
		const { user } = await userWithKey('google');
		const caller = callerFor(services, user);
		await caller.limits.set({ provider: 'google', requestsPerHour: 1, appDailyCapUsd: 0 });
		await readAll(await chat(user, 'google/gemini-2.5-flash'));
		// The own key's hourly limit refuses, then the app key's cap (off) refuses: the last one is the answer.
		await expect(chat(user, 'google/gemini-2.5-flash')).rejects.toMatchObject({ code: 'spend_cap_reached' });
		const text = await scrape();
		const refusals = (key_source: string, limit: string) =>
			sample(text, 'latchkey_limit_refusals_total', { provider: 'google', key_source, limit });
		expect(refusals('user', 'requests_per_hour')).toBeGreaterThanOrEqual(1);
		expect(refusals('app', 'app_daily_cap')).toBeGreaterThanOrEqual(1);
		expect(
			sample(text, 'latchkey_chat_requests_total', { provider: 'google', key_source: 'app', outcome: 'cap_reached' })
		).toBeGreaterThanOrEqual(1);
	});

	it('counts key validations by result and trigger', async () => {
		const user = await createUser(services.db, 'validator');
		const caller = callerFor(services, user);
		const key = testKey('openrouter', 'val');
		fake.registerKey('openrouter', key, 'ok');
		const stored = await caller.keys.upsert({ provider: 'openrouter', apiKey: key });
		fake.registerKey('openrouter', key, '503');
		await caller.keys.validate({ id: stored.key.id });
		const rejected = testKey('openai', 'bad');
		await expect(caller.keys.upsert({ provider: 'openai', apiKey: rejected })).rejects.toThrow();
		const text = await scrape();
		const validations = (provider: string, result: string, trigger: string) =>
			sample(text, 'latchkey_key_validations_total', { provider, result, trigger });
		expect(validations('openrouter', 'valid', 'add')).toBeGreaterThanOrEqual(1);
		expect(validations('openrouter', 'unverified', 'user')).toBeGreaterThanOrEqual(1);
		expect(validations('openai', 'invalid', 'add')).toBeGreaterThanOrEqual(1);
	});

	it('ends a stream stopped by shutdown with a restarting error, settles it and records it once', async () => {
		const { user } = await userWithKey('openai', {
			behaviour: 'ok',
			chunkDelayMs: 100,
			reply: Array.from({ length: 60 }, (_, i) => `piece${i}`).join(' ')
		});
		const active = new ActiveChats();
		const session = await startChat(
			{ ...chatDeps(services), activeChats: active },
			{
				principal: { kind: 'session', userId: user.id },
				modelId: 'openai/gpt-4o-mini',
				messages: [{ role: 'user', content: 'a long answer please' }],
				stream: true,
				api: 'web',
				requestId: randomUUID(),
				signal: new AbortController().signal
			}
		);
		expect(active.size).toBe(1);
		const iterator = session.events[Symbol.asyncIterator]();
		const first = await iterator.next();
		expect(first.value?.type).toBe('delta');
		expect(active.stopAll()).toBe(1);
		let end: SessionEvent | undefined;
		for (let next = await iterator.next(); !next.done; next = await iterator.next()) end = next.value;
		expect(end).toMatchObject({ type: 'error', error: { code: 'unavailable', reason: 'server_shutdown' } });
		expect(end?.type === 'error' && end.error.message).toMatch(/server is restarting/);
		expect(await active.whenIdle(1000)).toBe(true);

		const rows = await services.db
			.selectFrom('usage_records')
			.selectAll()
			.where('request_id', '=', session.requestId)
			.execute();
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ success: false, error_code: 'server_shutdown' });
		expect(rows[0]?.completion_tokens).toBeGreaterThan(0);
		const open = await services.db
			.selectFrom('limit_reservations')
			.select('id')
			.where('request_id', 'like', `${session.requestId}:%`)
			.where('outcome', 'is', null)
			.execute();
		expect(open).toEqual([]);
		// A request arriving after the stop is refused before anything is reserved.
		await expect(
			startChat(
				{ ...chatDeps(services), activeChats: active },
				{
					principal: { kind: 'session', userId: user.id },
					modelId: 'openai/gpt-4o-mini',
					messages: [{ role: 'user', content: 'too late' }],
					stream: true,
					api: 'web',
					requestId: randomUUID(),
					signal: new AbortController().signal
				}
			)
		).rejects.toMatchObject({ code: 'unavailable', reason: 'server_shutdown' });
		// One the API admitted in its token statement just as the stop came goes on into routing,
		// which gives its reservation back and records it.
		const { token } = await createAccessToken(services.db, user.id, { name: 'shutdown race' });
		const requestId = randomUUID();
		const racing = new ActiveChats();
		// The stop lands when the token statement (the only one before the call) has answered.
		const stopOnAnswer: KyselyPlugin = {
			transformQuery: ({ node }) => node,
			transformResult: async ({ result }) => {
				racing.stopAll();
				return result;
			}
		};
		await expect(
			startChat(
				{ ...chatDeps(services), db: services.db.withPlugin(stopOnAnswer), activeChats: racing },
				{
					principal: { kind: 'token', bearer: token, onTouchFailed: () => {} },
					modelId: 'openai/gpt-4o-mini',
					messages: [{ role: 'user' as const, content: 'admitted just before the stop' }],
					stream: true,
					api: 'openai',
					requestId,
					signal: new AbortController().signal
				}
			)
		).rejects.toMatchObject({ code: 'unavailable', reason: 'server_shutdown' });
		const admitted = await services.db
			.selectFrom('limit_reservations')
			.select('outcome')
			.where('request_id', 'like', `${requestId}:%`)
			.execute();
		expect(admitted).toEqual([{ outcome: 'released' }]);
		const recorded = await services.db
			.selectFrom('usage_records')
			.select(['success', 'error_code', 'api'])
			.where('request_id', '=', requestId)
			.execute();
		expect(recorded).toEqual([{ success: false, error_code: 'server_shutdown', api: 'openai' }]);
		expect(await racing.whenIdle(1000)).toBe(true);
		expect(sample(await scrape(), 'latchkey_active_streams')).toBe(0);
	});
});

describe('metrics registry and access', () => {
	it('keeps each registry separate, so two sets of services do not mix their counts', async () => {
		const first = createMetrics();
		const second = createMetrics();
		first.routingHooks.fellBack?.({ provider: 'openai', reason: 'quota' });
		expect(sample(await first.render(), 'latchkey_fallbacks_total', { provider: 'openai', reason: 'quota' })).toBe(1);
		expect(sample(await second.render(), 'latchkey_fallbacks_total', { provider: 'openai', reason: 'quota' })).toBe(
			undefined
		);
	});

	it('names every series latchkey_*, including the process metrics', async () => {
		const text = await createMetrics({ processMetrics: true, pendingWrites: () => 3 }).render();
		const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
		expect(names.length).toBeGreaterThan(15);
		expect(names.filter((name) => !name?.startsWith('latchkey_'))).toEqual([]);
		expect(sample(text, 'latchkey_pending_writes')).toBe(3);
		expect(sample(text, 'latchkey_process_resident_memory_bytes')).toBeGreaterThan(0);
	});

	it('maps usage outcomes to a small fixed set of labels', () => {
		expect(chatOutcomeOf({ success: true, errorCode: null })).toBe('success');
		expect(chatOutcomeOf({ success: false, errorCode: 'daily_cap' })).toBe('cap_reached');
		expect(chatOutcomeOf({ success: false, errorCode: 'tokens_per_hour' })).toBe('rate_limited');
		expect(chatOutcomeOf({ success: false, errorCode: 'upstream_timeout' })).toBe('upstream_error');
		expect(chatOutcomeOf({ success: false, errorCode: 'server_shutdown' })).toBe('shutdown');
		expect(chatOutcomeOf({ success: false, errorCode: 'something new' })).toBe('error');
	});

	it('lets a scraper in only with the right bearer token when METRICS_TOKEN is set', () => {
		const token = 'metrics-token-0123456789abcdef';
		expect(metricsAccessAllowed(null, undefined)).toBe(true);
		expect(metricsAccessAllowed(`Bearer ${token}`, token)).toBe(true);
		expect(metricsAccessAllowed(`bearer ${token}`, token)).toBe(true);
		expect(metricsAccessAllowed(null, token)).toBe(false);
		expect(metricsAccessAllowed('Bearer ', token)).toBe(false);
		expect(metricsAccessAllowed(`Bearer ${token}x`, token)).toBe(false);
		expect(metricsAccessAllowed(`Basic ${token}`, token)).toBe(false);
	});
});

describe('log redaction beyond key shapes', () => {
	function capture() {
		const lines: string[] = [];
		const destination = new Writable({
			write(chunk, _encoding, callback) {
				lines.push(String(chunk));
				callback();
			}
		});
		return { lines, log: createLogger({ level: 'debug', destination }) };
	}

	it('removes keys from URLs, header dumps, cookies and nested SDK errors, keeping the field names', () => {
		const { lines, log } = capture();
		const secret = 'Zq7nP2xV9mK4rT8wL3yB6cD1';
		const sdkError = Object.assign(new Error(`request to https://api.example/v1?key=${secret} failed`), {
			status: 401,
			headers: { 'x-api-key': secret },
			request: { url: `https://api.example/v1?key=${secret}` }
		});
		log.warn({ url: `https://generativelanguage.googleapis.com/v1beta/models?key=${secret}&alt=sse` }, 'url');
		log.warn({ dump: `POST /v1/messages\nx-api-key: ${secret}\nanthropic-version: 2026-10-21` }, 'headers');
		log.warn({ headers: { 'x-goog-api-key': secret, cookie: `latchkey_session=${secret}` } }, 'nested headers');
		log.warn({ detail: `cookie latchkey_session=${secret}; Path=/` }, 'cookie text');
		log.error({ err: sdkError }, 'sdk error');
		log.error({ failure: { cause: sdkError } }, 'nested error');
		log.info(`authorization: ${secret}`);
		const text = lines.join('');
		expect(text).not.toContain(secret.slice(0, 8));
		expect(text).not.toContain(secret.slice(-8));
		expect(text).toContain('key=[redacted]');
		expect(text).toContain('"status":401');
	});

	it('leaves ordinary fields and numbers alone', () => {
		expect(scrubLogObject({ provider: 'openai', tokens: 12, keyId: 'k1', model: 'gpt-4o-mini' })).toEqual({
			provider: 'openai',
			tokens: 12,
			keyId: 'k1',
			model: 'gpt-4o-mini'
		});
	});
});
