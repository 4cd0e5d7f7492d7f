import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BEHAVIOURS, startFakeProviders, type Behaviour, type FakeProviders } from '../fakes/server';
import { startApp, type AppServer } from '../helpers/app-server';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startTcpProxy, throughProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { fakeEnv, PROVIDERS, testKey } from '../integration/keys-fixtures';
import {
	chatOnce,
	leakedPieces,
	metricValue,
	readAccounting,
	runLoad,
	waitUntilQuiet,
	type ChatOutcome
} from './support/chat-load';

/**
 * The fault suite: the built server on real PostgreSQL, reached through a TCP proxy the test can
 * cut (the shared PostgreSQL service itself is never stopped), under concurrent chat load while
 * providers fail in every way the fakes know, PostgreSQL goes away and comes back, and the server
 * gets SIGTERM with streams open. Afterwards the database must account for every request:
 *
 * - every request id that holds a reservation (`limit_reservations`, one per attempt
 *   `<request id>:<n>`) has exactly one usage record (unique `request_id`);
 * - no reservation is left without an outcome (settled, released or reclaimed);
 * - every request that got a 200 stream has its usage record, and a stream that ended normally
 *   is recorded as a success;
 * - no request got a 500, and the server's output holds no key.
 */

const APP_KEY = 'sk-or-v1-appkeyfaults0123456789abcdefghijklmnopqrstuvwxyz';
const MODELS: Record<(typeof PROVIDERS)[number], string> = {
	openai: 'openai/gpt-4o-mini',
	anthropic: 'anthropic/claude-haiku-4.5',
	google: 'google/gemini-2.0-flash',
	openrouter: 'openrouter/meta-llama/llama-3.3-70b-instruct'
};
const REPLY = Array.from({ length: 24 }, (_, i) => `part${i}`).join(' ');

interface FaultUser {
	client: TestClient;
	behaviour: Behaviour;
}

describe.skipIf(!testDatabaseUrl)('faults under load [postgres]', () => {
	let fake: FakeProviders;
	let proxy: TcpProxy;
	let app: AppServer;
	let databaseUrl: string;
	let dropDatabase: () => Promise<void>;
	const users: FaultUser[] = [];
	const secrets: string[] = [APP_KEY];
	let apiToken = '';
	/** Every chat request of the suite, for "nothing is recorded that was not asked for". */
	const allOutcomes: ChatOutcome[] = [];

	beforeAll(async () => {
		fake = await startFakeProviders();
		fake.registerKey('openrouter', APP_KEY, { behaviour: 'ok', chunkDelayMs: 20, reply: REPLY });
		const database = await createEmptyPostgresDatabase();
		databaseUrl = database.url;
		dropDatabase = database.drop;
		const target = new URL(databaseUrl);
		proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
		app = await startApp({
			databaseUrl: throughProxy(databaseUrl, proxy),
			env: {
				...fakeEnv(fake),
				OPENROUTER_API_KEY: APP_KEY,
				PROVIDER_TIMEOUT_MS: '2000',
				SHUTDOWN_TIMEOUT: '3',
				DEFAULT_REQUESTS_PER_HOUR: '100000',
				DEFAULT_DAILY_CAP_USD: '1000',
				DEFAULT_APP_DAILY_CAP_USD: '1000'
			}
		});
		// One user per fake behaviour, holding a key of that behaviour for every provider.
		for (const [index, behaviour] of BEHAVIOURS.entries()) {
			const client = new TestClient(app.url);
			await client.trpc.auth.signUp.mutate({ email: `fault-${behaviour}@example.com`, password: 'fault password 123' });
			for (const provider of PROVIDERS) {
				const key = testKey(provider, `f${index}`);
				secrets.push(key);
				fake.registerKey(provider, key, 'ok');
				await client.trpc.keys.upsert.mutate({ provider, apiKey: key });
				fake.registerKey(provider, key, {
					behaviour,
					reply: REPLY,
					chunkDelayMs: 20,
					firstByteDelayMs: behaviour === 'slow' ? 300 : undefined
				});
			}
			users.push({ client, behaviour });
		}
		// And one whose own limits are tiny, so refusals happen under load too.
		const limited = new TestClient(app.url);
		await limited.trpc.auth.signUp.mutate({ email: 'fault-limited@example.com', password: 'fault password 123' });
		for (const provider of PROVIDERS) {
			await limited.trpc.limits.set.mutate({ provider, requestsPerHour: 2, appDailyCapUsd: 0.0001 });
		}
		users.push({ client: limited, behaviour: 'ok' });
		apiToken = (await users[0]!.client.trpc.tokens.create.mutate({ name: 'faults' })).token;
		secrets.push(apiToken);
	});
	afterAll(async () => {
		await app?.stop();
		await proxy?.close();
		await fake?.close();
		await dropDatabase?.();
	});

	const nextRequest = (worker: number, sequence: number) => {
		const user = users[(worker + sequence) % users.length]!;
		const provider = PROVIDERS[sequence % PROVIDERS.length]!;
		return { client: user.client, body: { model: MODELS[provider], content: `fault load ${sequence}` } };
	};

	async function expectEveryRequestAccountedFor(outcomes: ChatOutcome[]) {
		allOutcomes.push(...outcomes);
		await waitUntilQuiet(app.url);
		const accounting = await readAccounting(databaseUrl);
		expect(accounting.openReservations).toEqual([]);
		expect(accounting.admittedWithoutUsage).toEqual([]);
		for (const outcome of outcomes.filter((o) => o.status === 200)) {
			const usage = accounting.usage.get(outcome.requestId);
			expect(usage, `usage record of streamed request ${outcome.requestId}`).toBeDefined();
			const finished = outcome.events.some((e) => e.type === 'done') && !outcome.events.some((e) => e.type === 'error');
			if (finished) expect(usage?.success).toBe(true);
		}
		// Nothing is recorded that was not asked for.
		const sent = new Set(allOutcomes.map((o) => o.requestId));
		expect([...accounting.usage.keys()].filter((id) => !sent.has(id))).toEqual([]);
		return accounting;
	}

	it('survives provider faults of every kind under concurrent load, and accounts for every request', async () => {
		const stopAt = Date.now() + 6_000;
		const outcomes = await runLoad({ concurrency: 16, until: () => Date.now() > stopAt, next: nextRequest });
		expect(outcomes.length).toBeGreaterThan(100);
		const statuses = new Map<number, number>();
		for (const o of outcomes) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
		// Streams, refusals (402 cap, 429 limits), requests a provider refused (400: OpenRouter's 403
		// is a moderation refusal) and upstream failures (502/503); never a 500.
		expect([...statuses.keys()].every((status) => [200, 400, 402, 429, 502, 503].includes(status))).toBe(true);
		expect(statuses.get(200)).toBeGreaterThan(outcomes.length / 2);
		for (const o of outcomes) {
			if (o.status === 200) expect(o.ended).toBe('done');
			else expect(o.error?.message.length).toBeGreaterThan(10);
		}
		// Faults after the first token end the stream with an error event, never a broken connection.
		const midStream = outcomes.filter((o) => o.events.some((e) => e.type === 'error' && e.partial));
		expect(midStream.length).toBeGreaterThan(0);

		const accounting = await expectEveryRequestAccountedFor(outcomes);
		// Every request reached routing (no database trouble here), so every one has its record.
		expect(accounting.usage.size).toBe(outcomes.length);
		expect(await metricValue(app.url, 'latchkey_fallbacks_total')).toBeGreaterThan(0);
		expect(await metricValue(app.url, 'latchkey_limit_refusals_total')).toBeGreaterThan(0);
		expect(leakedPieces(app.output(), secrets)).toEqual([]);
	});

	it('answers 503 while PostgreSQL is unreachable, recovers without a restart, and loses no usage record', async () => {
		const anyUser = users[0]!.client;
		const stopAt = { time: Number.POSITIVE_INFINITY };
		const load = runLoad({ concurrency: 12, until: () => Date.now() > stopAt.time, next: nextRequest });

		await new Promise((resolve) => setTimeout(resolve, 1_500));
		await proxy.down();
		await new Promise((resolve) => setTimeout(resolve, 500));

		// While it is down, every kind of endpoint says so with a 503; metrics keep answering.
		const health = await fetch(`${app.url}/healthz`);
		expect(health.status).toBe(503);
		const trpcError = await anyUser.trpc.keys.list.query().then(
			() => undefined,
			(error: { data?: { httpStatus?: number }; message: string }) => error
		);
		expect(trpcError?.data?.httpStatus).toBe(503);
		expect(trpcError?.message).toMatch(/database unreachable/);
		const chat = await chatOnce(anyUser, { model: MODELS.openai, content: 'during the outage' });
		expect(chat.status).toBe(503);
		expect(chat.error?.message).toMatch(/temporarily unavailable/);
		const page = await anyUser.fetch('/chat');
		expect(page.status).toBe(503);
		expect(await page.text()).toContain('Temporarily unavailable');
		expect(page.headers.get('retry-after')).toBe('5');
		const signIn = await new TestClient(app.url).trpc.auth.signIn
			.mutate({ email: 'fault-ok@example.com', password: 'fault password 123' })
			.then(
				() => undefined,
				(error: { data?: { httpStatus?: number } }) => error
			);
		expect(signIn?.data?.httpStatus).toBe(503);
		const formSignIn = await fetch(`${app.url}/signin`, {
			method: 'POST',
			headers: { origin: app.url, 'content-type': 'application/x-www-form-urlencoded' },
			body: new URLSearchParams({ email: 'fault-ok@example.com', password: 'fault password 123' })
		});
		expect(formSignIn.status).toBe(503);
		expect(await formSignIn.text()).toContain('database unreachable');
		const api = await fetch(`${app.url}/api/v1/chat/completions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
			body: JSON.stringify({ model: MODELS.openai, messages: [{ role: 'user', content: 'during the outage' }] })
		});
		expect(api.status).toBe(503);
		expect(await api.json()).toMatchObject({ error: { message: expect.stringMatching(/database unreachable/) } });
		expect((await fetch(`${app.url}/metrics`)).status).toBe(200);

		await new Promise((resolve) => setTimeout(resolve, 1_500));
		await proxy.up();
		const recoveredAt = Date.now();
		// Recovery needs no restart: the pool reconnects on the next query.
		await expect.poll(async () => (await fetch(`${app.url}/healthz`)).status, { timeout: 10_000 }).toBe(200);
		stopAt.time = Date.now() + 3_000;
		const outcomes = [...(await load), chat];

		const unexpected = outcomes.filter((o) => ![200, 400, 402, 429, 502, 503].includes(o.status));
		expect(unexpected.map((o) => [o.status, o.error?.message])).toEqual([]);
		const afterRecovery = outcomes.filter((o) => o.startedAt > recoveredAt + 1_000);
		expect(afterRecovery.length).toBeGreaterThan(10);
		expect(afterRecovery.filter((o) => o.status === 200).length).toBeGreaterThan(afterRecovery.length / 2);
		const unavailable = outcomes.filter((o) => o.status === 503 && /database unreachable/.test(o.error?.message ?? ''));
		expect(unavailable.length).toBeGreaterThan(0);
		expect(await metricValue(app.url, 'latchkey_database_unavailable_total')).toBeGreaterThan(0);

		await expectEveryRequestAccountedFor(outcomes);
		expect(leakedPieces(app.output(), secrets)).toEqual([]);
	});

	it('drains open streams on SIGTERM: short ones finish, long ones are stopped at the bound and recorded', async () => {
		const okUser = users.find((u) => u.behaviour === 'ok')!.client;
		const longKeyUser = new TestClient(app.url);
		await longKeyUser.trpc.auth.signUp.mutate({ email: 'fault-long@example.com', password: 'fault password 123' });
		const longKey = testKey('anthropic', 'long');
		secrets.push(longKey);
		fake.registerKey('anthropic', longKey, 'ok');
		await longKeyUser.trpc.keys.upsert.mutate({ provider: 'anthropic', apiKey: longKey });
		// 60 chunks 200 ms apart: 12 s, far past the 3 s SHUTDOWN_TIMEOUT.
		fake.registerKey('anthropic', longKey, {
			behaviour: 'ok',
			chunkDelayMs: 200,
			reply: Array.from({ length: 120 }, (_, i) => `slowpart${i}`).join(' ')
		});

		const long = Array.from({ length: 6 }, (_, i) =>
			chatOnce(longKeyUser, { model: MODELS.anthropic, content: `long answer ${i}` })
		);
		await expect.poll(() => metricValue(app.url, 'latchkey_active_streams'), { timeout: 10_000 }).toBe(6);
		const short = Array.from({ length: 3 }, (_, i) =>
			chatOnce(okUser, { model: MODELS.openrouter, content: `short answer ${i}` })
		);
		await new Promise((resolve) => setTimeout(resolve, 100));
		const signalledAt = Date.now();
		const exitCode = app.stop('SIGTERM');
		const [longOutcomes, shortOutcomes] = await Promise.all([Promise.all(long), Promise.all(short)]);
		expect(await exitCode).toBe(0);
		expect(Date.now() - signalledAt).toBeLessThan(8_000);

		for (const outcome of shortOutcomes) {
			expect(outcome.status).toBe(200);
			expect(outcome.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
		}
		for (const outcome of longOutcomes) {
			expect(outcome.status).toBe(200);
			expect(outcome.ended).toBe('done');
			const error = outcome.events.find((e) => e.type === 'error');
			expect(error).toMatchObject({ reason: 'server_shutdown', partial: true });
			expect(error && 'message' in error ? error.message : '').toMatch(/server is restarting/);
			// Stopped near the bound (3 s minus one second), not at once and not at the end of the answer.
			expect(outcome.finishedAt - signalledAt).toBeGreaterThan(1_500);
			expect(outcome.finishedAt - signalledAt).toBeLessThan(4_000);
		}
		// The port no longer takes connections.
		expect((await chatOnce(okUser, { model: MODELS.openai, content: 'after shutdown' })).status).toBe(0);

		const accounting = await readAccounting(databaseUrl);
		expect(accounting.openReservations).toEqual([]);
		expect(accounting.admittedWithoutUsage).toEqual([]);
		for (const outcome of longOutcomes) {
			expect(accounting.usage.get(outcome.requestId)).toMatchObject({ success: false, errorCode: 'server_shutdown' });
		}
		for (const outcome of shortOutcomes) {
			expect(accounting.usage.get(outcome.requestId)).toMatchObject({ success: true });
		}
		const output = app.output();
		expect(output).toContain('stopped the streams still open at the shutdown bound');
		expect(output).toMatch(/"msg":"shut down"/);
		expect(leakedPieces(output, secrets)).toEqual([]);
	});
});
