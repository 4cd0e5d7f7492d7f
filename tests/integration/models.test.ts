import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { admit } from '$lib/server/limits';
import { listModelsForUser, setFallbackPreference, type ModelOption } from '$lib/server/routing';
import type { Services } from '$lib/server/services';
import { MODELS } from '$lib/server/catalog';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testConfig, testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey, trpcFailure, type TestUser } from './keys-fixtures';

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
		expect(model('openai/gpt-4o-mini').price?.inputMicrosPerMTok).toBe(150_000);
	});

	it('answers models.list over tRPC with key source, own-key flags and catalog prices per model', async () => {
		const user = await withOpenAIKey('trpc');
		const caller = callerFor(services, user);
		// An Anthropic key the provider rejects on re-test is marked invalid and no longer counts.
		const anthropicKey = testKey('anthropic', 'models');
		fake.registerKey('anthropic', anthropicKey, 'ok');
		const saved = await caller.keys.upsert({ provider: 'anthropic', apiKey: anthropicKey });
		fake.registerKey('anthropic', anthropicKey, '401');
		await caller.keys.validate({ id: saved.key.id });
		expect((await caller.keys.list()).find((k) => k.provider === 'anthropic')?.status).toBe('invalid');
		await caller.models.setFallback({ provider: 'google', allowFallback: false });

		const list = await caller.models.list();
		// The bundled models, plus every chat model the OpenAI key's own list names (read when it was saved).
		expect(list.map((m) => m.id)).toEqual(expect.arrayContaining(MODELS.map((m) => m.id)));
		const fromKeyList = list.filter((m) => !MODELS.some((seed) => seed.id === m.id));
		expect(fromKeyList.map((m) => m.id)).toEqual(
			expect.arrayContaining(['openai/gpt-5', 'openai/o3', 'openai/gpt-4o-2024-08-06'])
		);
		expect(fromKeyList.every((m) => m.provider === 'openai' && m.keySource === 'user')).toBe(true);
		expect(list.map((m) => m.id)).not.toContain('openai/text-embedding-3-small');
		expect(list.map((m) => m.id)).not.toContain('openai/dall-e-3');
		const byId = new Map(list.map((m) => [m.id, m]));
		expect(byId.get('openai/gpt-4o-mini')).toMatchObject({
			keySource: 'user',
			servedBy: 'openai',
			userHasKey: true,
			requiresKey: false,
			price: { inputMicrosPerMTok: 150_000, outputMicrosPerMTok: 600_000, cachedInputMicrosPerMTok: 75_000 }
		});
		expect(byId.get('anthropic/claude-sonnet-4')).toMatchObject({
			keySource: 'app',
			servedBy: 'openrouter',
			userHasKey: false,
			requiresKey: false,
			price: { inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000, cachedInputMicrosPerMTok: 300_000 }
		});
		expect(byId.get('google/gemini-2.5-flash')).toMatchObject({
			keySource: 'unavailable',
			servedBy: null,
			userHasKey: false,
			requiresKey: true,
			allowFallback: false,
			price: { inputMicrosPerMTok: 300_000, outputMicrosPerMTok: 2_500_000, cachedInputMicrosPerMTok: 30_000 },
			warning: 'Needs your Google Gemini key (fallback is off).'
		});
		for (const model of MODELS) {
			expect(byId.get(model.id)).toMatchObject({
				provider: model.provider,
				displayName: model.displayName,
				price: {
					inputMicrosPerMTok: model.price?.input,
					outputMicrosPerMTok: model.price?.output,
					cachedInputMicrosPerMTok: model.price?.cacheRead ?? null
				}
			});
		}
		// Nothing about the key itself travels with the list.
		expect(JSON.stringify(list)).not.toContain(anthropicKey.slice(-12));

		// Another user sees their own situation, not this one's.
		const other = await callerFor(services, await createUser(services.db, 'trpc-other')).models.list();
		expect(other.find((m) => m.id === 'openai/gpt-4o-mini')).toMatchObject({ keySource: 'app', userHasKey: false });
		expect(other.find((m) => m.id === 'google/gemini-2.5-flash')).toMatchObject({
			keySource: 'app',
			requiresKey: false
		});
		expect(await trpcFailure(callerFor(services, null).models.list())).toMatchObject({ code: 'UNAUTHORIZED' });
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
