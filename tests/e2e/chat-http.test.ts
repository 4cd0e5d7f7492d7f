import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChatStream, type ChatStreamEvent } from '$lib/chat/events';
import type { FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { testDatabaseUrl } from '../helpers/env';
import { chunkedBody, TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';

/** The web chat endpoint over real HTTP: Server-Sent Events, history, errors, aborts. */
describe(`POST /api/chat [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let stack: Stack;
	let app: AppServer;
	let fake: FakeProviders;

	beforeAll(async () => {
		stack = await startStack();
		({ app, fake } = stack);
	});
	afterAll(async () => {
		await stack?.stop();
	});

	async function signedInWithKey(name: string, behaviour: Parameters<FakeProviders['registerKey']>[2] = 'ok') {
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: `${name}@example.com`, password: 'chat password 123' });
		const key = testKey('openai', name.replace(/\W/g, ''));
		fake.registerKey('openai', key, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: key });
		fake.registerKey('openai', key, behaviour);
		return { client, key };
	}

	const postChat = (client: TestClient, body: unknown, signal?: AbortSignal) =>
		client.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify(body),
			signal
		});

	async function collect(response: Response): Promise<ChatStreamEvent[]> {
		const events: ChatStreamEvent[] = [];
		for await (const event of parseChatStream(response.body!)) events.push(event);
		return events;
	}

	it('streams conversation, meta, deltas, usage and done, and stores the turn', async () => {
		// Chunks 10 ms apart arrive in separate turns, so each is its own delta event.
		const { client } = await signedInWithKey('streamer', { behaviour: 'ok', chunkDelayMs: 10 });
		const response = await postChat(client, { model: 'openai/gpt-4o-mini', content: 'Tell me about keys' });
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
		expect(response.headers.get('x-key-source')).toBe('user');
		const events = await collect(response);
		const types = events.map((e) => e.type);
		expect(types[0]).toBe('conversation');
		expect(types[1]).toBe('meta');
		expect(types.slice(-2)).toEqual(['usage', 'done']);
		expect(types.filter((t) => t === 'delta').length).toBeGreaterThan(2);
		const text = events.flatMap((e) => (e.type === 'delta' ? [e.text] : [])).join('');
		expect(text).toContain('You said: Tell me about keys');
		const meta = events[1] as Extract<ChatStreamEvent, { type: 'meta' }>;
		expect(meta).toMatchObject({ keySource: 'user', servedBy: 'openai', provider: 'openai', fallback: null });
		const usage = events.at(-2) as Extract<ChatStreamEvent, { type: 'usage' }>;
		expect(usage.costMicros).toBeGreaterThan(0);

		const conversation = events[0] as Extract<ChatStreamEvent, { type: 'conversation' }>;
		expect(conversation.title).toBe('Tell me about keys');
		const stored = await client.trpc.conversations.get.query({ id: conversation.id });
		expect(stored.messages.map((m) => [m.role, m.content])).toEqual([
			['user', 'Tell me about keys'],
			['assistant', text]
		]);
		expect(stored.messages[1]).toMatchObject({ keySource: 'user', costMicros: usage.costMicros });

		// The next turn continues the same conversation with its history.
		const second = await collect(
			await postChat(client, { conversationId: conversation.id, model: 'openai/gpt-4o-mini', content: 'And locks?' })
		);
		expect(second[0]?.type).toBe('meta');
		expect((await client.trpc.conversations.get.query({ id: conversation.id })).messages).toHaveLength(4);
	});

	it('answers bad requests with clear 4xx errors', async () => {
		const { client } = await signedInWithKey('badreq');
		const anonymous = await fetch(`${app.url}/api/chat`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: '{}'
		});
		expect(anonymous.status).toBe(401);
		const wrongType = await client.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'text/plain' },
			body: 'hi'
		});
		expect(wrongType.status).toBe(415);
		const empty = await postChat(client, { model: 'openai/gpt-4o-mini', content: '   ' });
		expect(empty.status).toBe(400);
		expect(await empty.json()).toMatchObject({ error: { message: 'Write a message first.' } });
		const unknown = await postChat(client, { model: 'nope/model', content: 'hello' });
		expect(unknown.status).toBe(400);
		expect(await unknown.json()).toMatchObject({ error: { code: 'model_not_found' } });
		const foreign = await postChat(client, {
			conversationId: '00000000-0000-4000-8000-000000000000',
			model: 'openai/gpt-4o-mini',
			content: 'x'
		});
		expect(foreign.status).toBe(404);
	});

	it('refuses a body over the server limit with 413, declared or chunked, and keeps serving', async () => {
		const { client } = await signedInWithKey('bigbody');
		// startApp sets BODY_SIZE_LIMIT=1M; this is 6 MB: the client is still sending when the server
		// has decided, and must still receive the answer (not a connection reset).
		const bytes = new TextEncoder().encode(
			JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'x'.repeat(6 * 1024 * 1024) })
		);
		const headers = { 'content-type': 'application/json' };
		const declared = await client.fetch('/api/chat', { method: 'POST', headers, body: bytes });
		const chunked = await client.fetch('/api/chat', {
			method: 'POST',
			headers,
			duplex: 'half',
			body: chunkedBody(bytes)
		} as RequestInit);
		for (const response of [declared, chunked]) {
			expect(response.status).toBe(413);
			expect(await response.json()).toMatchObject({ error: { code: 'request_too_large' } });
		}
		const after = await postChat(client, { model: 'openai/gpt-4o-mini', content: 'still there?' });
		expect(after.status).toBe(200);
		await collect(after);
	});

	it('refuses a chat posted from another site with 403, before anything is sent upstream', async () => {
		const { client } = await signedInWithKey('crosssite');
		const upstreamBefore = fake.requests.length;
		const refused = await client.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
			body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'spend my money' })
		});
		expect(refused.status).toBe(403);
		expect(await refused.json()).toMatchObject({ error: { code: 'csrf' } });
		// A browser's cross-site fetch without an Origin is recognised by its Fetch Metadata.
		const noOrigin = await fetch(`${app.url}/api/chat`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', cookie: client.cookieHeader(), 'sec-fetch-site': 'cross-site' },
			body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'spend my money' })
		});
		expect(noOrigin.status).toBe(403);
		expect(fake.requests.length).toBe(upstreamBefore);
		expect(await client.trpc.conversations.list.query()).toEqual([]);
	});

	it('refuses with 429, retry-after and the limit that was hit', async () => {
		const { client } = await signedInWithKey('limited');
		await client.trpc.limits.set.mutate({ provider: 'openai', requestsPerHour: 1 });
		const first = await postChat(client, { model: 'openai/gpt-4o-mini', content: 'first' });
		expect(first.headers.get('x-key-source')).toBe('user');
		await collect(first);
		// The own key's hourly limit is reached: the app key (counted separately) answers, and says why.
		const second = await postChat(client, { model: 'openai/gpt-4o-mini', content: 'second' });
		expect(second.headers.get('x-key-source')).toBe('app');
		const meta = (await collect(second)).find((e) => e.type === 'meta');
		expect(meta).toMatchObject({
			fallback: {
				reason: 'own_limit_reached',
				message: expect.stringMatching(/requests-per-hour limit.*the app's key answered/)
			}
		});
		// Both sources used up: refused.
		const refused = await postChat(client, { model: 'openai/gpt-4o-mini', content: 'third' });
		expect(refused.status).toBe(429);
		expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
		const body = (await refused.json()) as {
			error: { code: string; message: string; details: { limit: number; resetsAt: string } };
			conversation: { id: string };
		};
		expect(body.error.message).toMatch(/requests-per-hour limit/);
		// The page can say when it resets.
		expect(body.error.code).toBe('requests_per_hour');
		expect(body.error.details).toMatchObject({ limit: 1, provider: 'openai', keySource: 'app' });
		expect(new Date(body.error.details.resetsAt).getUTCMinutes()).toBe(0);
		expect(new Date(body.error.details.resetsAt).getTime()).toBeGreaterThan(Date.now());
		// The refused turn is visible in its conversation after a reload.
		const stored = await client.trpc.conversations.get.query({ id: body.conversation.id });
		expect(stored.messages.at(-1)).toMatchObject({ role: 'assistant', content: '', errorCode: 'requests_per_hour' });
	});

	it('counts every request even when the client repeats its own x-request-id', async () => {
		const { client } = await signedInWithKey('replayer');
		await client.trpc.limits.set.mutate({ provider: 'openai', requestsPerHour: 1 });
		await client.trpc.models.setFallback.mutate({ provider: 'openai', allowFallback: false });
		const replay = { 'content-type': 'application/json', 'x-request-id': 'client-chosen-id-0001' };
		const send = () =>
			client.fetch('/api/chat', {
				method: 'POST',
				headers: replay,
				body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'hi' })
			});
		const first = await send();
		expect(first.status).toBe(200);
		expect(first.headers.get('x-request-id')).not.toBe('client-chosen-id-0001');
		await collect(first);
		expect((await send()).status).toBe(429);
	});

	it('closes the provider call within a second when the browser disconnects, and records it once', async () => {
		const { client, key } = await signedInWithKey('quitter', {
			behaviour: 'ok',
			chunkDelayMs: 300,
			reply: Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ')
		});
		const controller = new AbortController();
		const response = await postChat(
			client,
			{ model: 'openai/gpt-4o-mini', content: 'long answer please' },
			controller.signal
		);
		const reader = response.body!.getReader();
		const first = await reader.read();
		expect(new TextDecoder().decode(first.value)).toContain('event:');
		const abortedAt = Date.now();
		controller.abort();
		const upstream = () => fake.requests.filter((r) => r.key === key.slice(-4) && r.kind === 'chat').at(-1);
		await expect.poll(() => upstream()?.closedByClient, { timeout: 1000, interval: 20 }).toBe(true);
		expect(upstream()!.endedAt! - abortedAt).toBeLessThan(1000);
		await expect
			.poll(async () => (await client.trpc.usage.summary.query()).totals, { timeout: 3000 })
			.toEqual([expect.objectContaining({ provider: 'openai', keySource: 'user', requests: 1, failedRequests: 1 })]);
	});
});
