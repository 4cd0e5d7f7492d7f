import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BehaviourSpec, FakeProviders } from '../fakes/server';
import type { AppServer } from '../helpers/app-server';
import { testDatabaseUrl } from '../helpers/env';
import { TestClient } from '../helpers/http-client';
import { startStack, type Stack } from '../helpers/stack';
import { testKey } from '../integration/keys-fixtures';
import { metricValue } from './support/chat-load';

/**
 * A client that hangs up at any moment (issue 16), against a provider that takes 1.5 s: within a
 * second the provider call is cancelled, nothing stays reserved, the request has exactly one usage
 * record saying `client_aborted`, and the user's own-key cap (room for one request) admits the next.
 */

type Path = 'web' | 'api-stream' | 'api-json';
type Moment = 'before headers' | 'before the first token' | 'mid-stream' | "during a fallback's retry";

const SLOW_MS = 1_500;
const MODEL = 'openai/gpt-4o-mini';
/** Room for one worst-case gpt-4o-mini request (~$0.0025 with the default 4,096-token budget), not two. */
const CAP_USD = 0.004;

/** What the user's OpenAI key does (and their OpenRouter key, for the fallback case), and when to hang up. */
interface Scenario {
	openai: BehaviourSpec;
	openrouter?: BehaviourSpec;
	/** Hang up this long after the provider got the call, or once the first delta arrived. */
	hangUp: { after: 'openai' | 'openrouter'; ms: number } | 'first delta';
}

function scenario(moment: Moment, path: Path): Scenario {
	const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
	switch (moment) {
		case 'before headers':
			return { openai: { behaviour: 'slow', firstByteDelayMs: SLOW_MS }, hangUp: { after: 'openai', ms: 200 } };
		case 'before the first token':
			// A JSON answer has no first token before its headers: the hang-up comes later in the wait.
			return path === 'api-json'
				? { openai: { behaviour: 'slow', firstByteDelayMs: SLOW_MS }, hangUp: { after: 'openai', ms: 700 } }
				: { openai: { behaviour: 'ok', firstTokenDelayMs: SLOW_MS }, hangUp: { after: 'openai', ms: 400 } };
		case 'mid-stream':
			// The API's JSON answer is not streamed upstream either: hung up while the provider writes.
			return path === 'api-json'
				? { openai: { behaviour: 'slow', firstByteDelayMs: SLOW_MS }, hangUp: { after: 'openai', ms: 1_100 } }
				: { openai: { behaviour: 'ok', reply: long, chunkDelayMs: 60 }, hangUp: 'first delta' };
		case "during a fallback's retry":
			// The own OpenAI key fails twice (503, retried once), then the own OpenRouter key is slow.
			return {
				openai: { behaviour: '503' },
				openrouter: { behaviour: 'slow', firstByteDelayMs: SLOW_MS },
				hangUp: { after: 'openrouter', ms: 200 }
			};
	}
}

describe(`a client that hangs up [${testDatabaseUrl ? 'postgres' : 'pglite'}]`, () => {
	let stack: Stack;
	let app: AppServer;
	let fake: FakeProviders;
	let serial = 0;

	beforeAll(async () => {
		stack = await startStack();
		({ app, fake } = stack);
	});
	afterAll(async () => {
		await stack?.stop();
	});

	async function userWithSmallCap(moment: Moment, path: Path) {
		serial += 1;
		const client = new TestClient(app.url);
		await client.trpc.auth.signUp.mutate({ email: `hangup-${serial}@example.com`, password: 'hang up password 1' });
		const openaiKey = testKey('openai', `hangup${serial}`);
		const openrouterKey = testKey('openrouter', `hangup${serial}`);
		fake.registerKey('openai', openaiKey, 'ok');
		await client.trpc.keys.upsert.mutate({ provider: 'openai', apiKey: openaiKey });
		const plan = scenario(moment, path);
		if (plan.openrouter) {
			fake.registerKey('openrouter', openrouterKey, 'ok');
			await client.trpc.keys.upsert.mutate({ provider: 'openrouter', apiKey: openrouterKey });
			fake.registerKey('openrouter', openrouterKey, plan.openrouter);
		}
		fake.registerKey('openai', openaiKey, plan.openai);
		await client.trpc.limits.set.mutate({ provider: 'openai', dailyCapUsd: CAP_USD });
		const { token } = await client.trpc.tokens.create.mutate({ name: 'hang-up' });
		const tails = new Set([openaiKey.slice(-4), openrouterKey.slice(-4)]);
		return { client, token, plan, openaiKey, tails };
	}

	function send(path: Path, client: TestClient, token: string, signal?: AbortSignal) {
		if (path === 'web') {
			return client.fetch('/api/chat', {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ model: MODEL, content: 'Tell me a long story' }),
				signal
			});
		}
		return fetch(`${app.url}/api/v1/chat/completions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
			body: JSON.stringify({
				model: MODEL,
				stream: path === 'api-stream',
				messages: [{ role: 'user', content: 'Tell me a long story' }]
			}),
			signal
		});
	}

	/** Sends, hangs up as planned, and returns when the client hung up. */
	async function hangUp(path: Path, client: TestClient, token: string, plan: Scenario, tails: Set<string>) {
		const controller = new AbortController();
		const response = send(path, client, token, controller.signal);
		const { hangUp } = plan;
		if (hangUp !== 'first delta') {
			const called = () =>
				fake.requests.some((r) => r.kind === 'chat' && r.provider === hangUp.after && tails.has(r.key));
			// The first chat of a fresh server loads the tokenizer first.
			await expect.poll(called, { interval: 5, timeout: 15_000 }).toBe(true);
			await new Promise((resolve) => setTimeout(resolve, hangUp.ms));
		} else {
			const reader = (await response).body!.getReader();
			const decoder = new TextDecoder();
			let seen = '';
			while (!seen.includes('word0')) {
				const { value, done } = await reader.read();
				if (done) throw new Error('the stream ended before its first delta');
				seen += decoder.decode(value);
			}
		}
		const at = Date.now();
		controller.abort();
		await response.then(
			(r) => r.body?.cancel().catch(() => {}),
			() => {}
		);
		return at;
	}

	const paths: Path[] = ['web', 'api-stream', 'api-json'];
	const moments: Moment[] = ['before headers', 'before the first token', 'mid-stream', "during a fallback's retry"];
	const cases = paths.flatMap((path) => moments.map((moment) => [path, moment] as const));

	it.each(cases)(
		'%s, hung up %s: upstream closed and reservation returned within 1 s, one record, cap free',
		async (path, moment) => {
			const { client, token, plan, openaiKey, tails } = await userWithSmallCap(moment, path);
			const ours = () => fake.requests.filter((r) => r.kind === 'chat' && tails.has(r.key));
			const abortedBefore = await metricValue(app.url, 'latchkey_chat_requests_total', { outcome: 'client_aborted' });

			const at = await hangUp(path, client, token, plan, tails);
			const within = (ms: number) => Math.max(50, at + ms - Date.now());

			// The provider's connection closes within a second (the fake logs when it ended).
			await expect
				.poll(() => ours().every((r) => r.endedAt !== undefined), { timeout: within(1_000), interval: 20 })
				.toBe(true);
			const upstream = ours();
			expect(upstream.length).toBeGreaterThan(0);
			const cut = upstream.filter((r) => !r.completed);
			expect(cut.length).toBeGreaterThan(0);
			for (const request of cut) {
				expect(request.closedByClient).toBe(true);
				expect(request.endedAt! - at).toBeLessThan(1_000);
			}
			// Nothing stays reserved, here or in the database, within the same second.
			await expect
				.poll(() => metricValue(app.url, 'latchkey_open_reservations'), { timeout: within(1_000), interval: 20 })
				.toBe(0);
			await expect
				.poll(
					async () => {
						const limits = await client.trpc.limits.get.query();
						const openai = limits.providers.find((p) => p.provider === 'openai');
						return (openai?.own.used.reservedTodayMicros ?? -1) + (openai?.app.used.reservedTodayMicros ?? -1);
					},
					{ timeout: within(1_000), interval: 20 }
				)
				.toBe(0);

			// Exactly one usage record, and it says the client went away.
			await expect
				.poll(async () => (await client.trpc.usage.summary.query()).totals.reduce((n, t) => n + t.requests, 0))
				.toBe(1);
			const summary = await client.trpc.usage.summary.query();
			expect(summary.totals.reduce((n, t) => n + t.failedRequests, 0)).toBe(1);
			expect(await metricValue(app.url, 'latchkey_chat_requests_total', { outcome: 'client_aborted' })).toBe(
				abortedBefore + 1
			);
			if (moment === 'mid-stream' && path !== 'api-json') {
				// The partial answer is settled on an estimate of what was served.
				expect(summary.costMicros).toBeGreaterThan(0);
			}

			// The cap, with room for one request, admits the next one on the user's own key.
			fake.registerKey('openai', openaiKey, 'ok');
			const next = await send(path, client, token);
			expect(next.status).toBe(200);
			expect(next.headers.get('x-key-source')).toBe('user');
			await next.text();
		}
	);
});
