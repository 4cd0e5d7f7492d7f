// A provider error whose machine code carries a piece of the key (a proxy echoing it, a hostile
// upstream): the code must not reach the person, the stored conversation, the key's row, the audit
// log, the usage records or the logs. Only codes on the provider's known list pass (issue 17.6).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handleWebChat } from '$lib/server/chat';
import { handleChatCompletions } from '$lib/server/openai-api';
import { setFallbackPreference } from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { createAccessToken } from '../helpers/tokens';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

describeEachDatabase('provider codes that are not on the known list', (database) => {
	let fake: FakeProviders;
	let services: Services & { logLines: string[] };
	const appKey = testKey('openrouter', 'appcodes');

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, { ...fakeEnv(fake), OPENROUTER_API_KEY: appKey });
	});
	afterAll(async () => {
		await fake.close();
	});

	/** 16 characters from the middle of a key, no prefix: what a leak scan for whole keys would miss. */
	const pieceOf = (key: string) => key.slice(-24, -8);

	/** Everything the request left behind for this user, as one text. */
	async function traces(user: TestUser): Promise<string> {
		const { db } = services;
		const rows = await Promise.all([
			db
				.selectFrom('messages as m')
				.innerJoin('conversations as c', 'c.id', 'm.conversation_id')
				.select(['m.content', 'm.error_code', 'm.error_message'])
				.where('c.user_id', '=', user.id)
				.execute(),
			db.selectFrom('provider_keys').select(['last_error_code']).where('user_id', '=', user.id).execute(),
			db.selectFrom('audit_log').select(['action', 'details']).where('subject_user_id', '=', user.id).execute(),
			db.selectFrom('usage_records').select(['error_code']).where('user_id', '=', user.id).execute(),
			db.selectFrom('notifications').select(['message']).where('user_id', '=', user.id).execute()
		]);
		return [JSON.stringify(rows), ...services.logLines].join('\n');
	}

	it("keeps a code carrying a piece of the user's own key out of the answer, the conversation, the key row and the logs", async () => {
		const user = await createUser(services.db, 'owncode');
		const key = testKey('openai', 'owncode');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		await setFallbackPreference(services.db, user.id, { provider: 'openai', allowFallback: false });
		const piece = pieceOf(key);
		fake.registerKey('openai', key, { behaviour: '401', errorCode: `invalid_api_key:${piece}` });

		const response = await handleWebChat(
			{ deps: chatDeps(services), userId: user.id, requestId: randomUUID(), signal: new AbortController().signal },
			{ model: 'openai/gpt-4o-mini', content: 'Hello?' }
		);
		const answer = await response.text();

		expect(response.status).toBe(502);
		expect(answer).not.toContain(piece);
		expect(answer).toContain('OpenAI rejected the API key (HTTP 401).');
		const left = await traces(user);
		expect(left).not.toContain(piece);
		expect(left).toContain('OpenAI rejected the API key (HTTP 401).');
		// The key is marked invalid with the failure kind instead of the unknown code.
		const [row] = await services.db.selectFrom('provider_keys').selectAll().where('user_id', '=', user.id).execute();
		expect(row).toMatchObject({ status: 'invalid', last_error_code: 'auth' });
	});

	it("keeps a code carrying a piece of the app's key out of the API's answer and the logs", async () => {
		const user = await createUser(services.db, 'appcode');
		const piece = pieceOf(appKey);
		fake.registerKey('openrouter', appKey, { behaviour: '500', errorCode: `server_error:${piece}` });
		const { token } = await createAccessToken(services.db, user.id, { name: 'codes' });

		const response = await handleChatCompletions(
			{ deps: chatDeps(services), requestId: randomUUID() },
			new Request('http://latchkey.test/api/v1/chat/completions', {
				method: 'POST',
				headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
				body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello?' }] })
			})
		);
		const answer = await response.text();

		expect(response.status).toBe(502);
		expect(answer).not.toContain(piece);
		expect(answer).toContain('OpenRouter had a server error (HTTP 500).');
		expect(await traces(user)).not.toContain(piece);
	});

	it('keeps a code carrying a piece of the key out of an error in the middle of the stream', async () => {
		const user = await createUser(services.db, 'midcode');
		const key = testKey('anthropic', 'midcode');
		const piece = pieceOf(key);
		fake.registerKey('anthropic', key, { behaviour: 'midstream_error', errorCode: `overloaded_error:${piece}` });
		await callerFor(services, user).keys.upsert({ provider: 'anthropic', apiKey: key });

		const response = await handleWebChat(
			{ deps: chatDeps(services), userId: user.id, requestId: randomUUID(), signal: new AbortController().signal },
			{ model: 'anthropic/claude-sonnet-4', content: 'Hello?' }
		);
		const events = await response.text();

		expect(response.status).toBe(200);
		expect(events).toContain('event: error');
		expect(events).not.toContain(piece);
		await expect.poll(async () => (await traces(user)).includes('upstream_')).toBe(true);
		expect(await traces(user)).not.toContain(piece);
	});
});
