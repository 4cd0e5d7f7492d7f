// The live catalog: models come from the providers' lists, are kept in the database, and reach
// the model list, the chat path and the usage records without a code change.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import {
	getModel,
	loadCatalog,
	modelsOfKey,
	refreshAppModels,
	saveKeyModelList,
	startCatalogRefresh
} from '$lib/server/catalog';
import { listModelsForUser, startChat, type ChatSession, type SessionEvent } from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import { createCaller } from '$lib/server/trpc';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

const APP_KEY = 'sk-or-v1-appkey0123456789abcdefghijklmnopqrstuvwxyz0456';

async function finished(session: ChatSession): Promise<Exclude<SessionEvent, { type: 'delta' }> | undefined> {
	let end: Exclude<SessionEvent, { type: 'delta' }> | undefined;
	for await (const event of session.events) if (event.type !== 'delta') end = event;
	return end;
}

describeEachDatabase('the live model catalog', (database) => {
	let fake: FakeProviders;
	let services: Services;
	// The catalog in memory is the process's; each database's run names its own new models.
	const tag = randomUUID().slice(0, 8);

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, { ...fakeEnv(fake), OPENROUTER_API_KEY: APP_KEY });
	});
	afterAll(async () => {
		await fake.close();
	});
	beforeEach(() => {
		fake.registerKey('openrouter', APP_KEY, 'ok');
	});

	const deps = () => ({ db: services.db, config: services.config, log: services.log });
	const chat = (user: TestUser, modelId: string) =>
		startChat(chatDeps(services), {
			principal: { kind: 'session', userId: user.id },
			modelId,
			messages: [{ role: 'user', content: 'Which model are you?' }],
			stream: true,
			api: 'web',
			requestId: randomUUID(),
			signal: new AbortController().signal
		});
	const recordOf = (userId: string) =>
		services.db.selectFrom('usage_records').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();

	it('offers a model OpenRouter lists after the next refresh, chat-able on the app key at its listed price', async () => {
		const user = await createUser(services.db, `new-or-${tag}`);
		const openRouterId = `acme/${tag}-chat`;
		const publicId = `openrouter/${openRouterId}`;
		fake.addModel('openrouter', openRouterId, {
			name: 'Acme: New Chat',
			contextLength: 64_000,
			inMicrosPerMTok: 700_000,
			outMicrosPerMTok: 2_800_000
		});

		expect(await refreshAppModels(deps())).toBe(true);
		const option = (await listModelsForUser(services.db, services.config, user.id)).find((m) => m.id === publicId);
		expect(option).toMatchObject({
			keySource: 'app',
			contextWindow: 64_000,
			price: { inputMicrosPerMTok: 700_000, outputMicrosPerMTok: 2_800_000, cachedInputMicrosPerMTok: null }
		});

		const session = await chat(user, publicId);
		expect(session.keySource).toBe('app');
		expect(await finished(session)).toMatchObject({ type: 'done' });
		const record = await recordOf(user.id);
		expect(record.model).toBe(publicId);
		// OpenRouter's reported cost is the truth for OpenRouter calls: tokens × its listed prices, rounded up.
		const expected = Math.ceil((record.prompt_tokens * 700_000 + record.completion_tokens * 2_800_000) / 1_000_000);
		expect(Number(record.cost_micros)).toBe(expected);
	});

	it("offers a model the user's own key newly lists once the key is checked again", async () => {
		const user = await createUser(services.db, `new-direct-${tag}`);
		const key = testKey('openai', 'catalog');
		fake.registerKey('openai', key, 'ok');
		const caller = callerFor(services, user);
		const saved = await caller.keys.upsert({ provider: 'openai', apiKey: key });
		const modelId = `gpt-${tag}-nano`;
		const ids = async () => (await listModelsForUser(services.db, services.config, user.id)).map((m) => m.id);
		expect(await ids()).not.toContain(`openai/${modelId}`);

		fake.addModel('openai', modelId, {
			name: 'GPT nano',
			contextLength: 1_047_576,
			inMicrosPerMTok: 100_000,
			outMicrosPerMTok: 400_000
		});
		await caller.keys.validate({ id: saved.key.id });
		expect(await ids()).toContain(`openai/${modelId}`);
		const session = await chat(user, `openai/${modelId}`);
		expect(session.keySource).toBe('user');
		expect(await finished(session)).toMatchObject({ type: 'done' });
		expect((await recordOf(user.id)).model).toBe(`openai/${modelId}`);
		// The list is stored: a fresh process (another instance) knows the model from the database.
		const stored = await services.db
			.selectFrom('model_lists')
			.select('models')
			.where('key_id', '=', saved.key.id)
			.executeTakeFirstOrThrow();
		expect(JSON.stringify(stored.models)).toContain(modelId);
	});

	it('never offers the app key for a model without a known price, nor chats it there', async () => {
		await refreshAppModels(deps());
		const model = getModel('openrouter/openrouter/auto');
		expect(model).toMatchObject({ price: null, appServable: false });
		const user = await createUser(services.db, `unpriced-${tag}`);
		expect((await listModelsForUser(services.db, services.config, user.id)).map((m) => m.id)).not.toContain(
			'openrouter/openrouter/auto'
		);
		const error = await appErrorFrom(chat(user, 'openrouter/openrouter/auto'));
		expect(error.message).toMatch(/OpenRouter key/);
	});

	it("keeps the last list when OpenRouter's list cannot be read", async () => {
		await refreshAppModels(deps());
		const before = getModel('openrouter/deepseek/deepseek-chat-v3.1');
		expect(before).toBeDefined();
		const down = {
			...deps(),
			config: { baseUrls: { ...services.config.baseUrls, openrouter: 'http://127.0.0.1:9/api/v1' } }
		};
		expect(await refreshAppModels(down)).toBe(false);
		await loadCatalog(services.db);
		expect(getModel('openrouter/deepseek/deepseek-chat-v3.1')).toEqual(before);
	});

	it('lets an admin choose which models the app key serves; audited, and a bad pattern changes nothing', async () => {
		await refreshAppModels(deps());
		const admin = await createUser(services.db, `admin-${tag}`);
		await services.db.updateTable('users').set({ role: 'admin' }).where('id', '=', admin.id).execute();
		const user = await createUser(services.db, `ruled-${tag}`);
		const caller = createCaller({
			services,
			user: { id: admin.id, email: admin.email, role: 'admin' },
			sessionId: null,
			ip: '203.0.113.9',
			requestId: 'catalog-test'
		});
		const offered = async () => (await listModelsForUser(services.db, services.config, user.id)).map((m) => m.id);
		expect(await offered()).toContain('openrouter/deepseek/deepseek-chat-v3.1');

		await expect(caller.admin.setAppModelRules({ rules: [{ effect: 'deny', pattern: 'a b' }] })).rejects.toThrow(
			/wildcard/
		);
		const view = await caller.admin.setAppModelRules({ rules: [{ effect: 'deny', pattern: 'openrouter/deepseek/*' }] });
		expect(view.servable).toBeLessThan(view.candidates);
		expect(await offered()).not.toContain('openrouter/deepseek/deepseek-chat-v3.1');
		expect(await offered()).toContain('openrouter/mistralai/mistral-nemo');
		expect(getModel('openrouter/deepseek/deepseek-chat-v3.1')?.appServable).toBe(false);
		const audit = await services.db
			.selectFrom('audit_log')
			.select('details')
			.where('action', '=', 'catalog.set_rules')
			.execute();
		expect(JSON.stringify(audit.at(-1)?.details)).toContain('deny openrouter/deepseek/*');

		await caller.admin.setAppModelRules({ rules: [] });
		expect(await offered()).toContain('openrouter/deepseek/deepseek-chat-v3.1');
	});

	it("answers a model by today's id and by OpenRouter's name, recording its public id", async () => {
		await refreshAppModels(deps());
		expect(getModel('openrouter/anthropic/claude-sonnet-4.5')?.id).toBe('anthropic/claude-sonnet-4.5');
		expect(getModel('anthropic/claude-sonnet-4-5')?.id).toBe('anthropic/claude-sonnet-4.5');
		const user = await createUser(services.db, `alias-${tag}`);
		expect(await finished(await chat(user, 'openrouter/anthropic/claude-sonnet-4.5'))).toMatchObject({ type: 'done' });
		expect((await recordOf(user.id)).model).toBe('anthropic/claude-sonnet-4.5');
	});

	it('picks up a list another instance stored, within its reload interval', async () => {
		const user = await createUser(services.db, `other-instance-${tag}`);
		const key = testKey('anthropic', 'instance');
		fake.registerKey('anthropic', key, 'ok');
		const saved = await callerFor(services, user).keys.upsert({ provider: 'anthropic', apiKey: key });
		const jobs = startCatalogRefresh(deps(), { reloadMs: 40 });
		try {
			await jobs.ready;
			const modelId = `claude-${tag}-preview`;
			// Written straight to the database, as another instance's key check would.
			await saveKeyModelList(services.db, saved.key.id, 'anthropic', [
				{
					id: modelId,
					name: 'Claude Preview',
					contextWindow: 200_000,
					maxOutputTokens: 64_000,
					input: null,
					created: null,
					chat: true
				}
			]);
			await expect.poll(() => modelsOfKey(saved.key.id)?.has(`anthropic/${modelId}`), { timeout: 3_000 }).toBe(true);
			expect(getModel(`anthropic/${modelId}`)).toMatchObject({ contextWindow: 200_000, provider: 'anthropic' });
		} finally {
			await jobs.stop();
		}
	});
});
