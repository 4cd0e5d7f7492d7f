import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Provider } from '$lib/server/config';
import { startFakeProviders, type Behaviour, type BehaviourSpec, type FakeProviders } from '../fakes/server';
import { startApp, type AppServer } from '../helpers/app-server';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { fakeEnv, PROVIDERS, testKey } from '../integration/keys-fixtures';
import { chatOnce, leakedPieces, secretPieces } from './support/chat-load';

const MODELS: Record<Provider, string> = {
	openai: 'openai/gpt-4o-mini',
	anthropic: 'anthropic/claude-haiku-4.5',
	google: 'google/gemini-2.0-flash',
	openrouter: 'openrouter/meta-llama/llama-3.3-70b-instruct'
};

const random = (length: number) =>
	randomBytes(length * 2)
		.toString('base64')
		.replace(/[^A-Za-z0-9]/g, '')
		.slice(0, length);

/**
 * Runs a mixed scenario through the built server (keys added, rejected, tested, used with faults
 * and fallbacks; tokens created, used and revoked; passwords changed; keys smuggled into URLs and
 * headers; metrics scraped) with the most talkative log level, then scans everything the server
 * wrote to stdout and stderr, and its `/metrics` text, for every secret used and every 8-character
 * piece of one (after its public prefix such as `sk-proj-`).
 */
describe(`no key or token in logs or metrics [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let app: AppServer;
	let fake: FakeProviders;
	let dropDatabase: (() => Promise<void>) | undefined;
	const appKey = `sk-or-v1-${random(48)}`;
	const metricsToken = random(32);
	const secrets: string[] = [appKey, metricsToken];
	let metricsText = '';

	beforeAll(async () => {
		fake = await startFakeProviders();
		fake.registerKey('openrouter', appKey, 'ok');
		const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
		dropDatabase = database?.drop;
		app = await startApp({
			databaseUrl: database?.url,
			env: { ...fakeEnv(fake), OPENROUTER_API_KEY: appKey, METRICS_TOKEN: metricsToken, LOG_LEVEL: 'trace' }
		});
	});
	afterAll(async () => {
		await app?.stop();
		await fake?.close();
		await dropDatabase?.();
	});

	async function signedUp(name: string) {
		const client = new TestClient(app.url);
		const password = `Pw${random(20)}`;
		secrets.push(password);
		await client.trpc.auth.signUp.mutate({ email: `${name}-leak@example.com`, password });
		const cookie = client.cookie('latchkey_session');
		if (cookie) secrets.push(cookie);
		return { client, password };
	}

	async function addKey(client: TestClient, provider: Provider, behaviour: Behaviour | BehaviourSpec = 'ok') {
		const key = testKey(provider, random(6));
		secrets.push(key);
		fake.registerKey(provider, key, 'ok');
		const stored = await client.trpc.keys.upsert.mutate({ provider, apiKey: key });
		fake.registerKey(provider, key, behaviour);
		return { key, id: stored.key.id };
	}

	it('runs the mixed scenario', async () => {
		const { client, password } = await signedUp('mixed');
		const keys = new Map<Provider, { key: string; id: string }>();
		for (const provider of PROVIDERS) keys.set(provider, await addKey(client, provider));

		// Rejected, duplicate and misplaced keys: errors for the user, nothing for the log.
		const rejected = testKey('anthropic', random(6));
		secrets.push(rejected);
		fake.registerKey('anthropic', rejected, '401');
		await expect(client.trpc.keys.upsert.mutate({ provider: 'anthropic', apiKey: rejected })).rejects.toThrow();
		await expect(
			client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: keys.get('openai')!.key })
		).rejects.toThrow();
		await expect(
			client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: keys.get('google')!.key })
		).rejects.toThrow();

		// Chats: answered, then every fault, fallbacks to the app key, a cut stream.
		for (const provider of PROVIDERS) await chatOnce(client, { model: MODELS[provider], content: 'hello' });
		const faults: Behaviour[] = ['401', 'reset', 'malformed', 'midstream_error', '500', 'quota', 'no_usage'];
		for (const [index, behaviour] of faults.entries()) {
			const provider = PROVIDERS[index % PROVIDERS.length]!;
			const key = await addKey(client, provider, behaviour);
			keys.set(provider, key);
			const outcome = await chatOnce(client, { model: MODELS[provider], content: `fault ${behaviour}` });
			expect([200, 400, 402, 429, 502, 503]).toContain(outcome.status);
		}
		for (const [, key] of keys) await client.trpc.keys.validate.mutate({ id: key.id }).catch(() => undefined);
		const aborted = new AbortController();
		await addKey(client, 'google', { behaviour: 'ok', chunkDelayMs: 200 });
		const cut = chatOnce(client, { model: MODELS.google, content: 'cut me off' }, { signal: aborted.signal });
		setTimeout(() => aborted.abort(), 300);
		await cut;

		// Secrets where they do not belong: in a URL, in provider-style headers, as a Bearer token.
		await fetch(`${app.url}/healthz?key=${keys.get('google')!.key}`);
		await client.fetch(`/chat?key=${keys.get('openai')!.key}&token=${appKey}`);
		await client.fetch('/api/trpc/keys.list', {
			headers: {
				'x-api-key': keys.get('anthropic')!.key,
				'x-goog-api-key': keys.get('google')!.key,
				authorization: `Bearer ${keys.get('openai')!.key}`
			}
		});
		await fetch(`${app.url}/api/chat`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.get('openrouter')!.key}` },
			body: JSON.stringify({ model: MODELS.openai, content: `my key is ${keys.get('openai')!.key}` })
		});

		// Personal access tokens: created, used on the OpenAI-compatible API, a wrong one, revoked.
		const { token, id: tokenId } = await client.trpc.tokens.create.mutate({ name: 'leak scan' });
		secrets.push(token);
		const bearer = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
		await fetch(`${app.url}/api/v1/models`, { headers: bearer });
		const completion = await fetch(`${app.url}/api/v1/chat/completions`, {
			method: 'POST',
			headers: bearer,
			body: JSON.stringify({ model: MODELS.openrouter, stream: true, messages: [{ role: 'user', content: 'hi' }] })
		});
		await completion.text();
		const wrongToken = `lk_${random(8)}_${random(43)}`;
		secrets.push(wrongToken);
		await fetch(`${app.url}/api/v1/models`, { headers: { authorization: `Bearer ${wrongToken}` } });
		await client.trpc.tokens.revoke.mutate({ id: tokenId });
		await fetch(`${app.url}/api/v1/models`, { headers: bearer });

		// Sign-in failures and a password change (which ends the other sessions).
		const other = new TestClient(app.url);
		await expect(
			other.trpc.auth.signIn.mutate({ email: 'mixed-leak@example.com', password: `${password}x` })
		).rejects.toThrow();
		await other.trpc.auth.signIn.mutate({ email: 'mixed-leak@example.com', password });
		const otherCookie = other.cookie('latchkey_session');
		if (otherCookie) secrets.push(otherCookie);
		const newPassword = `Pw${random(20)}`;
		secrets.push(newPassword);
		await client.trpc.auth.changePassword.mutate({ currentPassword: password, newPassword });
		const newCookie = client.cookie('latchkey_session');
		if (newCookie) secrets.push(newCookie);
		await other.trpc.auth.me.query().catch(() => undefined);

		// Metrics: refused without the token, scraped with it.
		expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
		expect(
			(await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${keys.get('openai')!.key}` } })).status
		).toBe(401);
		const scraped = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
		expect(scraped.status).toBe(200);
		metricsText = await scraped.text();
		expect(metricsText).toContain('latchkey_chat_requests_total');
	});

	it('finds no secret and no 8-character piece of one in the server output or the metrics', async () => {
		await app.stop();
		const output = app.output();
		// The scan is meaningful: the server did talk, and the pieces are many.
		expect(output.split('\n').length).toBeGreaterThan(50);
		expect(output).toContain('"msg":"request"');
		expect(secrets.length).toBeGreaterThan(20);
		expect(secretPieces(secrets).length).toBeGreaterThan(500);
		expect(leakedPieces(output, secrets)).toEqual([]);
		expect(leakedPieces(metricsText, secrets)).toEqual([]);
	});

	it('puts the request id on every line written while handling a request', () => {
		const lines = app
			.output()
			.split('\n')
			.filter((line) => line.startsWith('{'))
			.map((line) => JSON.parse(line) as { msg?: string; requestId?: unknown });
		expect(lines.filter((line) => typeof line.requestId === 'string').length).toBeGreaterThan(50);
		// Only the process's own lines (start-up, background jobs, shutdown) belong to no request.
		const processLine =
			/^(database migrations applied|Latchkey is ready|shutting down|shut down|stopped the streams|chat requests still open|graceful shutdown failed|limits maintenance failed|revalidated stored provider keys|key revalidation run failed|OpenRouter model list|catalog reload failed|using the master key|the database was migrated by a newer release|.*master key)/;
		const orphans = lines.filter((line) => typeof line.requestId !== 'string' && !processLine.test(line.msg ?? ''));
		expect(orphans.map((line) => line.msg)).toEqual([]);
	});
});
