// Cost to the cached token: each provider's reported token kinds, priced at the price library's
// rates (the expected figures are computed here from the library's own data, in integers).
import { calcPrice } from '@pydantic/genai-prices';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { setPriceOverride } from '$lib/server/catalog';
import { startChat, type ChatSession } from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import type { Provider } from '$lib/server/config';
import { startFakeProviders, type BehaviourSpec, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

const APP_KEY = 'sk-or-v1-appkey0123456789abcdefghijklmnopqrstuvwxyz0789';

async function drain(session: ChatSession): Promise<void> {
	for await (const event of session.events) if (event.type === 'error') throw event.error;
}

/** The library's rate for `field` above `prompt` tokens, as integer micro-dollars per million tokens. */
function libraryRate(provider: string, model: string, field: string, prompt: number): bigint {
	const found = calcPrice({ input_tokens: 1, output_tokens: 1 }, model, { providerId: provider });
	const rate = found?.model_price[field];
	if (rate === undefined) throw new Error(`the library has no ${field} for ${model}`);
	const usd =
		typeof rate === 'number' ? rate : ([...rate.tiers].reverse().find((t) => prompt > t.start)?.price ?? rate.base);
	return BigInt(Math.round(usd * 1e6));
}

describeEachDatabase('cost to the cached token', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, { ...fakeEnv(fake), OPENROUTER_API_KEY: APP_KEY });
		fake.registerKey('openrouter', APP_KEY, 'ok');
	});
	afterAll(() => fake.close());

	async function userWith(provider: Provider, behaviour: BehaviourSpec): Promise<TestUser> {
		const user = await createUser(services.db, `cost-${provider}`);
		const key = testKey(provider, 'cost');
		fake.registerKey(provider, key, 'ok');
		await callerFor(services, user).keys.upsert({ provider, apiKey: key });
		fake.registerKey(provider, key, behaviour);
		return user;
	}
	const chat = async (user: TestUser, modelId: string, stream: boolean) => {
		await drain(
			await startChat(chatDeps(services), {
				principal: { kind: 'session', userId: user.id },
				modelId,
				messages: [{ role: 'user', content: 'A long shared preamble, cached by the provider. Now the question.' }],
				stream,
				api: 'web',
				requestId: randomUUID(),
				signal: new AbortController().signal
			})
		);
		return services.db.selectFrom('usage_records').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
	};

	const cases: {
		provider: Provider;
		model: string;
		library: [string, string];
		spec: BehaviourSpec;
		stream: boolean;
	}[] = [
		{
			provider: 'openai',
			model: 'openai/gpt-4o-mini',
			library: ['openai', 'gpt-4o-mini'],
			spec: { behaviour: 'ok', cachedReadTokens: 12, reasoningTokens: 40 },
			stream: true
		},
		{
			provider: 'anthropic',
			model: 'anthropic/claude-sonnet-4.5',
			library: ['anthropic', 'claude-sonnet-4-5'],
			spec: { behaviour: 'ok', cachedReadTokens: 10, cacheWriteTokens: 5 },
			stream: false
		},
		{
			provider: 'google',
			model: 'google/gemini-2.5-flash',
			library: ['google', 'gemini-2.5-flash'],
			spec: { behaviour: 'ok', cachedReadTokens: 8, reasoningTokens: 30 },
			stream: true
		}
	];

	for (const c of cases) {
		it(`prices a ${c.provider} request with cached input at the library's rate for each kind of token`, async () => {
			const record = await chat(await userWith(c.provider, c.spec), c.model, c.stream);
			const read = c.spec.cachedReadTokens ?? 0;
			const written = c.spec.cacheWriteTokens ?? 0;
			expect(record).toMatchObject({
				cached_read_tokens: read,
				cache_write_tokens: written,
				reasoning_tokens: c.spec.reasoningTokens ?? 0,
				cost_known: true,
				estimated: false
			});
			const [providerId, model] = c.library;
			const rate = (field: string) => libraryRate(providerId, model, field, record.prompt_tokens);
			const uncached = BigInt(record.prompt_tokens - read - written);
			const scaled =
				uncached * rate('input_mtok') +
				BigInt(read) * rate('cache_read_mtok') +
				(written ? BigInt(written) * rate('cache_write_mtok') : 0n) +
				BigInt(record.completion_tokens) * rate('output_mtok');
			expect(BigInt(record.cost_micros)).toBe((scaled + 999_999n) / 1_000_000n);
			// And the library's own float arithmetic agrees to within a micro-dollar.
			const library = calcPrice(
				{
					input_tokens: record.prompt_tokens,
					cache_read_tokens: read,
					cache_write_tokens: written,
					output_tokens: record.completion_tokens
				},
				model,
				{ providerId }
			);
			expect(Math.abs(Number(record.cost_micros) - (library?.total_price ?? 0) * 1e6)).toBeLessThan(1);
		});
	}

	it("takes OpenRouter's reported cost as the truth, keeping the cached tokens it reports", async () => {
		const user = await userWith('openrouter', { behaviour: 'ok', cachedReadTokens: 6 });
		const record = await chat(user, 'openrouter/meta-llama/llama-3.3-70b-instruct', true);
		const reported = fake.requests.at(-1);
		expect(reported?.model).toBe('meta-llama/llama-3.3-70b-instruct');
		expect(record).toMatchObject({ cached_read_tokens: 6, cost_known: true });
		// The fake reports tokens × its listed price (USD); the record keeps it, rounded up to a micro-dollar.
		expect(Number(record.cost_micros)).toBe(
			Math.ceil((record.prompt_tokens * 130_000 + record.completion_tokens * 400_000) / 1e6)
		);
	});

	it('bills a request above 200k prompt tokens at the long-context tier, for the whole request', async () => {
		const user = await userWith('google', {
			behaviour: 'ok',
			reportUsage: { promptTokens: 250_000, completionTokens: 1_000 }
		});
		const record = await chat(user, 'google/gemini-2.5-pro', false);
		expect(record.prompt_tokens).toBe(250_000);
		const scaled =
			250_000n * libraryRate('google', 'gemini-2.5-pro', 'input_mtok', 250_000) +
			1_000n * libraryRate('google', 'gemini-2.5-pro', 'output_mtok', 250_000);
		expect(BigInt(record.cost_micros)).toBe((scaled + 999_999n) / 1_000_000n);
		// Above the tier: $2.50 / $15 per million instead of $1.25 / $10.
		expect(Number(record.cost_micros)).toBe(640_000);
	});

	it('records a model with no known price with its tokens and the cost marked unknown; an override prices it', async () => {
		const user = await userWith('openai', { behaviour: 'ok', cachedReadTokens: 4 });
		const modelId = `gpt-unpriced-${randomUUID().slice(0, 6)}`;
		fake.addModel('openai', modelId, {
			name: 'Unpriced',
			contextLength: 128_000,
			inMicrosPerMTok: 1,
			outMicrosPerMTok: 1
		});
		const [key] = await callerFor(services, user).keys.list();
		await callerFor(services, user).keys.validate({ id: key?.id ?? '' });

		const unknown = await chat(user, `openai/${modelId}`, true);
		expect(unknown).toMatchObject({ cost_known: false, cost_micros: 0, cached_read_tokens: 4, estimated: false });
		expect(unknown.prompt_tokens).toBeGreaterThan(0);

		const admin = await createUser(services.db, 'price-admin');
		await setPriceOverride(
			services.db,
			{ provider: 'openai', providerModel: modelId, input: 1_000_000, output: 2_000_000, cacheRead: 500_000 },
			{ actorUserId: admin.id, ip: null }
		);
		await services.db.deleteFrom('usage_records').where('user_id', '=', user.id).execute();
		const priced = await chat(user, `openai/${modelId}`, true);
		const expected = Math.ceil(
			((priced.prompt_tokens - 4) * 1_000_000 + 4 * 500_000 + priced.completion_tokens * 2_000_000) / 1e6
		);
		expect(priced).toMatchObject({ cost_known: true, cost_micros: expected });
	});
});
