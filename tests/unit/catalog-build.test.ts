// How the catalog is built from the providers' own lists (fetched from the fakes, which serve each
// provider's real list format): which entries are chat models, twins, aliases, prices, app rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog, MODELS, type AppModelRule } from '$lib/server/catalog';
import { familyKey, patternMatches } from '$lib/server/catalog/ids';
import { priceFromOpenRouterPricing } from '$lib/server/catalog/prices';
import { knownLimitsOf } from '$lib/server/catalog/known-limits';
import { parseModelList, type ListedModel } from '$lib/server/providers';
import { startFakeProviders, type FakeProviders } from '../fakes/server';

const OPENAI_KEY = 'sk-test-catalogbuild-0001-abcdefgh';
const ANTHROPIC_KEY = 'sk-ant-test-catalogbuild-0001-abcdefghijkl';
const GOOGLE_KEY = 'AIzaSyCatalogBuild0001abcdefghijklmnopq';

describe('the catalog built from provider lists', () => {
	let fake: FakeProviders;
	const lists: Record<string, ListedModel[]> = {};

	beforeAll(async () => {
		fake = await startFakeProviders();
		fake.registerKey('openai', OPENAI_KEY, 'ok');
		fake.registerKey('anthropic', ANTHROPIC_KEY, 'ok');
		fake.registerKey('google', GOOGLE_KEY, 'ok');
		const get = async (url: string, headers: Record<string, string> = {}) => (await fetch(url, { headers })).json();
		lists.openai = parseModelList(
			'openai',
			await get(`${fake.baseUrls.openai}/models`, { authorization: `Bearer ${OPENAI_KEY}` })
		);
		lists.anthropic = parseModelList(
			'anthropic',
			await get(`${fake.baseUrls.anthropic}/v1/models?limit=1000`, {
				'x-api-key': ANTHROPIC_KEY,
				'anthropic-version': '2023-06-01'
			})
		);
		lists.google = parseModelList(
			'google',
			await get(`${fake.baseUrls.google}/v1beta/models`, { 'x-goog-api-key': GOOGLE_KEY })
		);
		lists.openrouter = parseModelList('openrouter', await get(`${fake.baseUrls.openrouter}/models`));
	});
	afterAll(() => fake.close());

	const build = (options: { direct?: boolean; rules?: AppModelRule[]; openRouter?: boolean } = {}) =>
		buildCatalog({
			seed: MODELS,
			openRouter: options.openRouter === false ? null : (lists.openrouter ?? []),
			direct: new Map(
				options.direct === false
					? []
					: [
							['openai', [lists.openai ?? []]],
							['anthropic', [lists.anthropic ?? []]],
							['google', [lists.google ?? []]]
						]
			),
			priceOf: (provider, _model, pricing) => (provider === 'openrouter' ? priceFromOpenRouterPricing(pricing) : null),
			limitsOf: knownLimitsOf,
			rules: options.rules ?? []
		});

	it('keeps chat models and drops embedding, speech, image and moderation models', () => {
		const chat = (provider: string) => (lists[provider] ?? []).filter((m) => m.chat).map((m) => m.id);
		expect(chat('openai')).toEqual(expect.arrayContaining(['gpt-5', 'o3', 'gpt-4o-2024-08-06', 'gpt-3.5-turbo']));
		for (const id of [
			'text-embedding-3-small',
			'whisper-1',
			'tts-1',
			'dall-e-3',
			'gpt-image-1',
			'omni-moderation-latest',
			'gpt-4o-realtime-preview'
		]) {
			expect(chat('openai')).not.toContain(id);
		}
		expect(chat('google')).toContain('gemini-2.5-pro');
		expect(chat('google')).not.toContain('text-embedding-004');
		expect(chat('google')).not.toContain('imagen-4.0-generate-001');
		const catalog = build();
		expect(catalog.models.has('openai/whisper-1')).toBe(false);
		expect(catalog.models.has('openai/gpt-5')).toBe(true);
	});

	it("finds each direct model's OpenRouter twin by family, dated and undated", () => {
		const catalog = build();
		expect(catalog.models.get('openai/gpt-4o-2024-08-06')?.openRouterId).toBe('openai/gpt-4o');
		expect(catalog.models.get('anthropic/claude-sonnet-4-5-20250929')?.openRouterId).toBe(
			'anthropic/claude-sonnet-4.5'
		);
		expect(catalog.models.get('anthropic/claude-opus-4-1-20250805')?.openRouterId).toBe('anthropic/claude-opus-4.1');
		expect(catalog.models.get('google/gemini-2.0-flash-001')?.openRouterId).toBe('google/gemini-2.0-flash-001');
		// OpenAI lists gpt-3.5-turbo, OpenRouter does not: no fallback.
		expect(catalog.models.get('openai/gpt-3.5-turbo')).toMatchObject({ openRouterId: null, appServable: false });
	});

	it("names a direct model by the provider's own id; OpenRouter's name is an alias", () => {
		const catalog = build();
		expect(catalog.aliases.get('anthropic/claude-opus-4.1')).toBe('anthropic/claude-opus-4-1-20250805');
		expect(catalog.aliases.get('openrouter/anthropic/claude-opus-4.1')).toBe('anthropic/claude-opus-4-1-20250805');
		// Before any Anthropic list is known, the id Anthropic most likely uses stands in.
		const withoutLists = build({ direct: false });
		expect(withoutLists.models.get('anthropic/claude-opus-4-1')?.openRouterId).toBe('anthropic/claude-opus-4.1');
		// Today's ids stay public ids.
		expect(build().models.has('anthropic/claude-sonnet-4.5')).toBe(true);
	});

	it("keeps OpenRouter's own offers (other labs, :thinking variants) as openrouter/… models at OpenRouter's price", () => {
		const catalog = build();
		expect(catalog.models.get('openrouter/deepseek/deepseek-chat-v3.1')).toMatchObject({
			provider: 'openrouter',
			price: { input: 200_000, output: 800_000, source: 'openrouter' },
			appServable: true
		});
		expect(catalog.models.has('openrouter/anthropic/claude-3.7-sonnet:thinking')).toBe(true);
		expect(catalog.models.get('openrouter/openrouter/auto')).toMatchObject({ price: null, appServable: false });
	});

	it('takes context windows from the list, else from the models.dev catalog', () => {
		const catalog = build();
		expect(catalog.models.get('google/gemini-2.5-pro')?.contextWindow).toBe(1_048_576);
		// OpenAI's list carries no limits; o3's twin on OpenRouter and models.dev both say 200k.
		expect(catalog.models.get('openai/o3')?.contextWindow).toBe(200_000);
		expect(catalog.models.get('openai/gpt-3.5-turbo')?.contextWindow).toBe(
			knownLimitsOf('openai', 'gpt-3.5-turbo')?.contextWindow
		);
		expect(catalog.models.get('openai/gpt-5')?.input).toEqual(['text', 'image']);
	});

	it("applies the admin's rules, first match wins, to what the app key serves", () => {
		const catalog = build({
			rules: [
				{ effect: 'allow', pattern: 'openrouter/deepseek/*' },
				{ effect: 'deny', pattern: 'openrouter/*' }
			]
		});
		expect(catalog.models.get('openrouter/deepseek/deepseek-chat-v3.1')?.appServable).toBe(true);
		expect(catalog.models.get('openrouter/x-ai/grok-4')?.appServable).toBe(false);
		expect(catalog.models.get('openai/gpt-5')?.appServable).toBe(false);
	});

	it('reads ids and patterns the way the lists write them', () => {
		expect(familyKey('claude-sonnet-4-5-20250929')).toBe(familyKey('claude-sonnet-4.5'));
		expect(familyKey('gpt-4o-2024-08-06')).toBe('gpt-4o');
		expect(familyKey('gemini-2.0-flash-001')).toBe(familyKey('gemini-2.0-flash'));
		expect(familyKey('gpt-4o-mini')).not.toBe(familyKey('gpt-4o'));
		expect(patternMatches('openrouter/*', 'openrouter/x-ai/grok-4')).toBe(true);
		expect(patternMatches('openai/gpt-5*', 'openai/gpt-4o')).toBe(false);
		expect(patternMatches('openai/gpt-4.1', 'openai/gpt-4x1')).toBe(false);
	});

	it("converts OpenRouter's per-token prices exactly, and an unlisted price to unknown", () => {
		expect(priceFromOpenRouterPricing({ prompt: '0.00000015', completion: '0.0000006' })).toEqual({
			input: 150_000,
			output: 600_000,
			source: 'openrouter'
		});
		expect(
			priceFromOpenRouterPricing({ prompt: '0.000003', completion: '0.000015', input_cache_read: '0.0000003' })
				?.cacheRead
		).toBe(300_000);
		expect(priceFromOpenRouterPricing({ prompt: '-1', completion: '-1' })).toBeNull();
	});
});
