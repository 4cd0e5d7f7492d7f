import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handleWebChat } from '$lib/server/chat';
import { listKeys } from '$lib/server/keys';
import { chatDeps, type Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

describeEachDatabase("a key card's last use", (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		// No app key: every request is the own key's.
		services = await testServices(database().handle, fakeEnv(fake));
	});
	afterAll(async () => {
		await fake.close();
	});

	async function saveKey(user: TestUser, tag: string): Promise<string> {
		const key = testKey('openai', tag);
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		return key;
	}

	async function chat(user: TestUser): Promise<void> {
		const response = await handleWebChat(
			{ deps: chatDeps(services), userId: user.id, requestId: randomUUID(), signal: new AbortController().signal },
			{ model: 'openai/gpt-4o-mini', content: 'Hello?' }
		);
		await response.text();
	}

	const lastUsed = async (user: TestUser) => (await listKeys(services.db, user.id))[0]?.lastUsedAt ?? null;
	const ownRequests = (user: TestUser) =>
		services.db.selectFrom('usage_records').select('id').where('user_id', '=', user.id).execute();

	it('counts a request the provider refused: the key was used', async () => {
		const user = await createUser(services.db, 'lastuse-refused');
		const key = await saveKey(user, 'lu1');
		fake.registerKey('openai', key, 'quota');
		await chat(user);
		await expect.poll(async () => (await ownRequests(user)).length).toBe(1);
		expect(await lastUsed(user)).toBeInstanceOf(Date);
	});

	it("leaves a replacement key unused until it serves, whatever the old key's requests", async () => {
		const user = await createUser(services.db, 'lastuse-replaced');
		await saveKey(user, 'lu2');
		await chat(user);
		await expect.poll(() => lastUsed(user)).toBeInstanceOf(Date);
		await saveKey(user, 'lu3');
		expect(await lastUsed(user)).toBeNull();
		await chat(user);
		await expect.poll(() => lastUsed(user)).toBeInstanceOf(Date);
	});
});
