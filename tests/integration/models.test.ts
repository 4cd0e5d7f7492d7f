import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { admit } from '$lib/server/limits';
import { listModelsForUser, setFallbackPreference, type ModelOption } from '$lib/server/routing';
import type { Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testConfig, testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

const APP_KEY = 'sk-or-v1-appkeymodels0123456789abcdefghijklmnopqrstuvwxyz';

describeEachDatabase('the model list (what the selector shows)', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, { ...fakeEnv(fake), OPENROUTER_API_KEY: APP_KEY });
	});
	afterAll(async () => {
		await fake.close();
	});

	async function withOpenAIKey(name: string): Promise<TestUser> {
		const user = await createUser(services.db, name);
		const key = testKey('openai', 'models');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		return user;
	}

	const models = async (userId: string, config = services.config) => {
		const list = await listModelsForUser(services.db, config, userId);
		return (id: string): ModelOption => list.find((m) => m.id === id)!;
	};

	it('marks models the user’s own key serves, and the app key for the rest', async () => {
		const user = await withOpenAIKey('selector');
		const model = await models(user.id);
		expect(model('openai/gpt-4o-mini')).toMatchObject({
			keySource: 'user',
			servedBy: 'openai',
			userHasKey: true,
			requiresKey: false,
			warning: null
		});
		expect(model('anthropic/claude-sonnet-4')).toMatchObject({
			keySource: 'app',
			servedBy: 'openrouter',
			userHasKey: false,
			warning: "This will use the app's key, within your daily app allowance."
		});
		expect(model('openai/gpt-4o-mini').inputMicrosPerMTok).toBe(150_000);
	});

	it('says a key is needed when fallback is off or the server has no app key', async () => {
		const user = await createUser(services.db, 'nofallback');
		await setFallbackPreference(services.db, user.id, { provider: 'anthropic', allowFallback: false });
		const model = await models(user.id);
		expect(model('anthropic/claude-sonnet-4')).toMatchObject({
			keySource: 'unavailable',
			requiresKey: true,
			warning: 'Needs your Anthropic key (fallback is off).'
		});
		const withoutAppKey = await models(user.id, testConfig(fakeEnv(fake)));
		expect(withoutAppKey('google/gemini-2.5-flash')).toMatchObject({
			keySource: 'unavailable',
			requiresKey: true,
			warning: 'Needs your Google Gemini key.'
		});
	});

	it('warns before the app key is billed because the own key’s hourly limit is used up', async () => {
		const user = await withOpenAIKey('hourly');
		await callerFor(services, user).limits.set({ provider: 'openai', requestsPerHour: 1 });
		const take = (keySource: 'user' | 'app') =>
			admit(services.db, services.config.limitDefaults, {
				userId: user.id,
				provider: 'openai',
				keySource,
				reserveMicros: 10,
				reserveTokens: 10,
				requestId: randomUUID()
			});
		await take('user');
		const nextHour = `${String((new Date().getUTCHours() + 1) % 24).padStart(2, '0')}:00 UTC`;
		const model = await models(user.id);
		expect(model('openai/gpt-4o-mini')).toMatchObject({ keySource: 'app', servedBy: 'openrouter', userHasKey: true });
		expect(model('openai/gpt-4o-mini').warning).toBe(
			`Your requests-per-hour limit for OpenAI on your own key is reached until ${nextHour}; this will bill the app's key.`
		);

		await take('app');
		const exhausted = await models(user.id);
		expect(exhausted('openai/gpt-4o-mini')).toMatchObject({ keySource: 'user', servedBy: null });
		expect(exhausted('openai/gpt-4o-mini').warning).toBe(
			`Your requests-per-hour limit for OpenAI is reached; it resets at ${nextHour}.`
		);
		// Other providers are not touched by OpenAI's limit.
		expect(exhausted('anthropic/claude-sonnet-4')).toMatchObject({ keySource: 'app', servedBy: 'openrouter' });
	});
});
