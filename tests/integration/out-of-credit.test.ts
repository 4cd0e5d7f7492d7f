import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handleWebChat } from '$lib/server/chat';
import { chatDeps, type Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey } from './keys-fixtures';

describeEachDatabase('an own provider account out of credit', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		// No app key: nothing can fall back, so the user's own account's answer is the answer.
		services = await testServices(database().handle, fakeEnv(fake));
	});
	afterAll(async () => {
		await fake.close();
	});

	it('is a 402 that says the account is out of credit and points to the API keys page', async () => {
		const user = await createUser(services.db, 'nocredit');
		const key = testKey('openai', 'oc');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		fake.registerKey('openai', key, 'quota');

		const response = await handleWebChat(
			{ deps: chatDeps(services), userId: user.id, requestId: randomUUID(), signal: new AbortController().signal },
			{ model: 'openai/gpt-4o-mini', content: 'Anything left?' }
		);

		expect(response.status).toBe(402);
		const { error } = (await response.json()) as { error: { type: string; code: string; message: string } };
		expect(error).toMatchObject({ type: 'insufficient_quota', code: 'upstream_quota' });
		expect(error.message).toMatch(/^Your OpenAI account is out of credit or quota \(HTTP 429, insufficient_quota\)\./);
		expect(error.message).toContain('API keys page');
		expect(error.message).not.toMatch(/spending cap/i);
	});
});
