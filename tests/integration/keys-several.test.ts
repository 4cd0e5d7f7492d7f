import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handleWebChat } from '$lib/server/chat';
import { parseChatStream, type ChatStreamEvent } from '$lib/chat/events';
import { httpErrorResponse } from '$lib/server/errors';
import { chatDeps, type Services } from '$lib/server/services';
import { usageByKey } from '$lib/server/usage';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey, trpcFailure, type TestUser } from './keys-fixtures';

const MODEL = 'openai/gpt-4o-mini';

/** Several keys per provider, tried in the person's order before any app key (issue 21). */
describeEachDatabase('several keys per provider', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, {
			...fakeEnv(fake),
			OPENROUTER_API_KEY: appKey
		});
		fake.registerKey('openrouter', appKey, 'ok');
	});
	afterAll(async () => {
		await fake.close();
	});
	const appKey = testKey('openrouter', 'appkey');

	async function withKeys(name: string, count: number): Promise<{ user: TestUser; keys: string[] }> {
		const user = await createUser(services.db, name);
		const caller = callerFor(services, user);
		const keys: string[] = [];
		for (let i = 0; i < count; i++) {
			const key = testKey('openai', `${name}${i}`);
			fake.registerKey('openai', key, 'ok');
			await caller.keys.upsert({
				provider: 'openai',
				apiKey: key,
				label: `key ${i + 1}`,
				...(i > 0 ? { add: true } : {})
			});
			keys.push(key);
		}
		return { user, keys };
	}

	/** One web turn; which key answered (the fake's last 4 characters of it) and the meta event. */
	async function chat(user: TestUser) {
		const before = fake.requests.length;
		const response = await handleWebChat(
			{ deps: chatDeps(services), userId: user.id, requestId: randomUUID(), signal: new AbortController().signal },
			{ model: MODEL, content: 'Which key?' }
		).catch((error: unknown) => httpErrorResponse(error, 'test'));
		const events: ChatStreamEvent[] = [];
		if (response.status === 200) for await (const event of parseChatStream(response.body!)) events.push(event);
		else await response.text();
		const calls = fake.requests.slice(before).filter((r) => r.kind === 'chat');
		const meta = events.find((e) => e.type === 'meta');
		return { status: response.status, keysTried: calls.map((c) => `${c.provider}:${c.key}`), meta };
	}
	const tail = (key: string) => `openai:${key.slice(-4)}`;

	it('serves with the first key; on its rate limit or quota the next of the person’s keys answers, not the app', async () => {
		const { user, keys } = await withKeys('order', 3);
		const listed = await callerFor(services, user).keys.list();
		expect(listed.map((k) => [k.label, k.position])).toEqual([
			['key 1', 0],
			['key 2', 1],
			['key 3', 2]
		]);
		expect((await chat(user)).keysTried).toEqual([tail(keys[0]!)]);

		fake.registerKey('openai', keys[0]!, { behaviour: '429', retryAfterSeconds: 0 });
		fake.registerKey('openai', keys[1]!, 'quota');
		const turn = await chat(user);
		expect(turn.status).toBe(200);
		// The rate-limited first key is retried once, then the second (out of credit), then the third.
		expect(turn.keysTried.filter((k) => k.startsWith('openai:'))).toEqual([
			tail(keys[0]!),
			tail(keys[0]!),
			tail(keys[1]!),
			tail(keys[2]!)
		]);
		expect(turn.meta).toMatchObject({ keySource: 'user', servedBy: 'openai' });
		expect(turn.meta && 'fallback' in turn.meta ? turn.meta.fallback?.message : '').toContain(
			'your next OpenAI key answered'
		);
		// Each usage record names the key that served; the keys page sums them per key.
		const since = new Date(Date.now() - 3_600_000);
		await expect.poll(async () => (await usageByKey(services.db, user.id, since)).get(listed[2]!.id)?.requests).toBe(1);
		const perKey = await usageByKey(services.db, user.id, since);
		expect(perKey.get(listed[0]!.id)?.requests).toBe(1);
		expect(perKey.get(listed[1]!.id)).toBeUndefined();
	});

	it('never goes past a key marked "always use", and follows a new order', async () => {
		const { user, keys } = await withKeys('pinned', 2);
		const caller = callerFor(services, user);
		const [first, second] = await caller.keys.list();
		await caller.keys.setPinned({ id: first!.id, pinned: true });
		fake.registerKey('openai', keys[0]!, { behaviour: '429', retryAfterSeconds: 0 });
		const refused = await chat(user);
		// The rate limit is the answer: neither the second key nor the app key was asked.
		expect(refused.status).not.toBe(200);
		expect(refused.keysTried.length).toBeGreaterThan(0);
		expect(refused.keysTried.every((k) => k === tail(keys[0]!))).toBe(true);

		// Second key first: it answers, and the pinned key is not needed.
		await caller.keys.reorder({ provider: 'openai', keyIds: [second!.id, first!.id] });
		const reordered = await chat(user);
		expect(reordered.status).toBe(200);
		expect(reordered.keysTried).toEqual([tail(keys[1]!)]);
	});

	it('replaces one key by id, refuses a duplicate, a sixth key and a wrong order, changing nothing', async () => {
		const { user, keys } = await withKeys('limits', 5);
		const caller = callerFor(services, user);
		const before = await caller.keys.list();
		const sixth = testKey('openai', 'sixth');
		fake.registerKey('openai', sixth, 'ok');
		expect(await trpcFailure(caller.keys.upsert({ provider: 'openai', apiKey: sixth, add: true }))).toMatchObject({
			reason: 'too_many_keys'
		});
		expect(await trpcFailure(caller.keys.upsert({ provider: 'openai', apiKey: keys[3]!, add: true }))).toMatchObject({
			reason: 'key_already_saved'
		});
		expect(
			await trpcFailure(caller.keys.reorder({ provider: 'openai', keyIds: [before[0]!.id, before[1]!.id] }))
		).toMatchObject({ code: 'BAD_REQUEST' });
		expect(await caller.keys.list()).toEqual(before);

		// Replacing the third key keeps its place and leaves the others alone.
		await caller.keys.upsert({ provider: 'openai', apiKey: sixth, replaceKeyId: before[2]!.id });
		const after = await caller.keys.list();
		expect(after.map((k) => k.last4)).toEqual([keys[0], keys[1], sixth, keys[3], keys[4]].map((k) => k!.slice(-4)));
		expect(after[2]!.position).toBe(2);
	});
});
