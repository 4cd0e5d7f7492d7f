// The model catalog: ids, limits, prices (as PROVIDERS.md lists them), costs that never
// under-bill, and the tokenizer used for reservations and usage estimates.
import fc from 'fast-check';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
	costMicros,
	countPromptTokens,
	countTextTokens,
	EXACT_FLOOR_CHARS,
	getModel,
	listModels,
	loadTokenizer,
	ratesFor,
	MODELS,
	PROMPT_BUDGET_MS,
	worstCaseCostMicros,
	type CatalogModel
} from '$lib/server/catalog';
import { buildCatalog } from '$lib/server/catalog';
import { fakePriceOf, findFakeModel } from '../fakes/server';

/** USD per token, input / output, as /work/shared/design/PROVIDERS.md lists them (LiteLLM, 2026-11). */
const PROVIDERS_MD_PRICES: Record<string, [number, number]> = {
	'openai/gpt-4o': [2.5e-6, 1e-5],
	'openai/gpt-4o-mini': [1.5e-7, 6e-7],
	'openai/gpt-4.1-mini': [4e-7, 1.6e-6],
	'anthropic/claude-sonnet-4': [3e-6, 1.5e-5],
	'anthropic/claude-sonnet-4.5': [3e-6, 1.5e-5],
	'anthropic/claude-haiku-4.5': [1e-6, 5e-6],
	'google/gemini-2.0-flash': [1e-7, 4e-7],
	'google/gemini-2.5-flash': [3e-7, 2.5e-6],
	'google/gemini-2.5-pro': [1.25e-6, 1e-5]
};

function model(id: string): Readonly<CatalogModel> {
	const found = getModel(id);
	if (!found) throw new Error(`no catalog model ${id}`);
	return found;
}

describe('catalog', () => {
	it('offers the ten bundled models, by public provider/model id, before any provider list is read', () => {
		const seedOnly = buildCatalog({
			seed: MODELS,
			openRouter: null,
			direct: new Map(),
			priceOf: () => null,
			limitsOf: () => undefined,
			rules: []
		});
		expect([...seedOnly.models.keys()].sort()).toEqual(
			[
				'openai/gpt-4o-mini',
				'openai/gpt-4o',
				'openai/gpt-4.1-mini',
				'anthropic/claude-sonnet-4',
				'anthropic/claude-sonnet-4.5',
				'anthropic/claude-haiku-4.5',
				'google/gemini-2.0-flash',
				'google/gemini-2.5-flash',
				'google/gemini-2.5-pro',
				'openrouter/meta-llama/llama-3.3-70b-instruct'
			].sort()
		);
		expect(seedOnly.models.get('openai/gpt-5')).toBeUndefined();
	});

	it('gives every model a provider, prices, limits and an OpenRouter id the OpenRouter fake knows', () => {
		for (const m of listModels()) {
			expect(m.id.startsWith(`${m.provider}/`)).toBe(true);
			expect(Number.isSafeInteger(m.price?.input) && (m.price?.input ?? 0) > 0).toBe(true);
			expect(Number.isSafeInteger(m.price?.output) && (m.price?.output ?? 0) > 0).toBe(true);
			expect(m.maxOutputTokens).toBeGreaterThan(0);
			expect(m.maxOutputTokens).toBeLessThanOrEqual(m.contextWindow);
			expect(m.displayName).not.toBe('');
			expect(findFakeModel('openrouter', m.openRouterId ?? ''), m.openRouterId ?? '').toBeDefined();
			expect(findFakeModel(m.provider, m.providerModel), m.providerModel).toBeDefined();
		}
	});

	it('maps an OpenRouter-only model to itself', () => {
		const llama = model('openrouter/meta-llama/llama-3.3-70b-instruct');
		expect(llama).toMatchObject({
			provider: 'openrouter',
			providerModel: 'meta-llama/llama-3.3-70b-instruct',
			openRouterId: 'meta-llama/llama-3.3-70b-instruct'
		});
	});

	it('uses the real Anthropic model ids', () => {
		expect(model('anthropic/claude-sonnet-4').providerModel).toBe('claude-sonnet-4-20250514');
		expect(model('anthropic/claude-sonnet-4.5').providerModel).toBe('claude-sonnet-4-5');
		expect(model('anthropic/claude-haiku-4.5').providerModel).toBe('claude-haiku-4-5');
	});

	it('prices the bundled models from the pinned price library, as PROVIDERS.md lists them', () => {
		for (const [id, [input, output]] of Object.entries(PROVIDERS_MD_PRICES)) {
			expect(model(id).price?.input, id).toBe(Math.round(input * 1e12));
			expect(model(id).price?.output, id).toBe(Math.round(output * 1e12));
		}
		expect(model('openai/gpt-4o-mini').price).toMatchObject({
			input: 150_000,
			cacheRead: 75_000,
			source: 'genai-prices'
		});
	});

	it('prices each direct model like OpenRouter does, so a fallback costs what the direct call would', () => {
		for (const m of listModels().filter((model) => model.provider !== 'openrouter')) {
			const openRouterPrice = fakePriceOf(findFakeModel('openrouter', m.openRouterId ?? '')?.id ?? '');
			expect(m.price?.input ?? -1, m.id).toBe(openRouterPrice.promptMicroUsdPerMTok);
			expect(m.price?.output ?? -1, m.id).toBe(openRouterPrice.completionMicroUsdPerMTok);
		}
	});
});

describe('costs', () => {
	it('costs exact integer micro-dollars when the figures divide evenly', () => {
		expect(costMicros(model('openai/gpt-4o-mini'), 1000, 500)).toBe(450);
		expect(costMicros(model('anthropic/claude-sonnet-4'), 1_000_000, 0)).toBe(3_000_000);
		expect(costMicros(model('anthropic/claude-sonnet-4'), 0, 1_000_000)).toBe(15_000_000);
		expect(costMicros(model('google/gemini-2.5-pro'), 0, 0)).toBe(0);
	});

	it('rounds a fraction of a micro-dollar up, never down', () => {
		// One gpt-4o-mini prompt token is 0.15 micro-dollars.
		expect(costMicros(model('openai/gpt-4o-mini'), 1, 0)).toBe(1);
		expect(costMicros(model('google/gemini-2.0-flash'), 11, 0)).toBe(2);
	});

	it('is always an integer within one micro-dollar above the exact cost', () => {
		fc.assert(
			fc.property(
				fc.constantFrom(...listModels()),
				fc.integer({ min: 0, max: 2_000_000 }),
				fc.integer({ min: 0, max: 200_000 }),
				(m, prompt, completion) => {
					const cost = costMicros(m, prompt, completion);
					// Exact cost × 1e6, in integers: prompt × rate + completion × rate, at the long-context
					// tier's rates once the prompt is above its threshold.
					const rates = m.price ? ratesFor(m.price, prompt) : { input: 0, output: 0 };
					const exactTimesMillion = BigInt(prompt) * BigInt(rates.input) + BigInt(completion) * BigInt(rates.output);
					expect(Number.isSafeInteger(cost)).toBe(true);
					expect(BigInt(cost) * 1_000_000n >= exactTimesMillion).toBe(true);
					expect((BigInt(cost) - 1n) * 1_000_000n < exactTimesMillion).toBe(true);
				}
			)
		);
	});

	it('reserves the worst case: the whole output budget, capped at what the model can produce', () => {
		const mini = model('openai/gpt-4o-mini');
		expect(worstCaseCostMicros(mini, 1000, 1000)).toBe(costMicros(mini, 1000, 1000));
		expect(worstCaseCostMicros(mini, 1000, 10_000_000)).toBe(costMicros(mini, 1000, mini.maxOutputTokens));
		fc.assert(
			fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 16_384 }), (prompt, output) => {
				expect(worstCaseCostMicros(mini, prompt, mini.maxOutputTokens)).toBeGreaterThanOrEqual(
					costMicros(mini, prompt, output)
				);
			})
		);
	});

	it('refuses token counts that are negative or not whole', () => {
		const mini = model('openai/gpt-4o-mini');
		expect(() => costMicros(mini, -1, 0)).toThrow(RangeError);
		expect(() => costMicros(mini, 1.5, 0)).toThrow(RangeError);
		expect(() => worstCaseCostMicros(mini, 0, Number.NaN)).toThrow(RangeError);
	});
});

describe('tokenizer (o200k_base)', () => {
	beforeAll(() => loadTokenizer());

	it('counts known strings the same every time', () => {
		expect(countTextTokens('Hello, world!')).toBe(4);
		expect(countTextTokens('Latchkey seals your provider keys with libsodium.')).toBe(10);
		// o200k_base, not cl100k_base (which needs 4 tokens here).
		expect(countTextTokens('こんにちは世界')).toBe(2);
		expect(countTextTokens('')).toBe(0);
	});

	it('counts special-token text typed by a user as plain text instead of refusing it', () => {
		expect(countTextTokens('<|endoftext|>')).toBe(7);
	});

	it('adds OpenAI’s per-message overhead: 3 per message, its role, and 3 to prime the reply', async () => {
		expect(await countPromptTokens([])).toBe(3);
		expect(
			await countPromptTokens([
				{ role: 'system', content: 'Be brief.' },
				{ role: 'user', content: 'Hello, world!' }
			])
		).toBe(3 + (3 + 1 + 3) + (3 + 1 + 4));
	});

	it('grows with the prompt, roughly a token per four characters of English', () => {
		const text = 'The quick brown fox jumps over the lazy dog. '.repeat(400);
		const tokens = countTextTokens(text);
		expect(tokens).toBeGreaterThan(text.length / 8);
		expect(tokens).toBeLessThan(text.length / 2);
	});

	/** Deterministic pseudo-random lower-case letters, in words of `wordLength` (0: one run). */
	function gibberish(length: number, wordLength = 0, seed = 7): string {
		let out = '';
		while (out.length < length) {
			seed = (seed * 1103515245 + 12345) % 2147483648;
			out += wordLength && out.length % (wordLength + 1) === wordLength ? ' ' : String.fromCharCode(97 + (seed % 26));
		}
		return out;
	}

	const exactCount = (text: string) => countTokens(text, { disallowedSpecial: new Set() });

	/** How long `count` took, and the longest the event loop was held meanwhile (a 1 ms timer's gaps). */
	async function measured(count: () => number | Promise<number>) {
		let heldMs = 0;
		let last = performance.now();
		const probe = setInterval(() => {
			heldMs = Math.max(heldMs, performance.now() - last);
			last = performance.now();
		}, 1);
		const started = performance.now();
		const tokens = await count();
		const ms = performance.now() - started;
		clearInterval(probe);
		return { tokens, ms, heldMs: Math.max(heldMs, performance.now() - last) };
	}

	/** Runs `count` with the clock standing still (no budget runs out) or racing (every budget does). */
	async function withClock<T>(clock: 'still' | 'racing', count: () => T | Promise<T>): Promise<T> {
		let now = 0;
		const spy = vi.spyOn(performance, 'now').mockImplementation(() => (clock === 'racing' ? (now += 1000) : now));
		try {
			return await count();
		} finally {
			spy.mockRestore();
		}
	}

	const ordinaryText = (length: number) => {
		const words = 'keys seal the vault; café, 東京 and naïve text (2026) flow through it.'.split(' ');
		let text = '';
		for (let i = 0; text.length < length; i++) text += `${words[(i * 7) % words.length]} `;
		return text.slice(0, length);
	};

	it('counts ordinary text exactly, however long, in the segments it counts separately', async () => {
		const text = ordinaryText(90_000);
		const exact = exactCount(text);
		expect(await withClock('still', () => countPromptTokens([{ role: 'user', content: text }]))).toBe(
			3 + 3 + 1 + exact
		);
		expect(await withClock('still', () => countTextTokens(text))).toBe(exact);
	});

	it('cuts text only where the tokenizer itself starts a piece: counts equal the exact count', async () => {
		// Whitespace-heavy: a cut in the wrong place (e.g. inside "  \n") would change the pieces.
		const parts = [
			'a',
			'Bc',
			'dé',
			' ',
			' ',
			'  ',
			'\n',
			' \n',
			'\t',
			'.',
			', ',
			'/',
			"'s",
			'42',
			'東',
			'😀',
			'\u00a0',
			'<|endoftext|>'
		];
		await withClock('still', () =>
			fc.assert(
				fc.property(fc.array(fc.constantFrom(...parts), { minLength: 600, maxLength: 3_000 }), (chosen) => {
					const text = chosen.join('');
					const longest = Math.max(0, ...Array.from(text.matchAll(O200K_TOKEN_SPLIT_REGEX), (m) => m[0].length));
					fc.pre(longest <= 64);
					expect(countTextTokens(text)).toBe(exactCount(text));
				}),
				{ numRuns: 200 }
			)
		);
	});

	it('past its time budget, bounds the rest by its UTF-8 length: never below the exact count', async () => {
		const text = ordinaryText(90_000);
		const exact = exactCount(text);
		for (const counted of [
			await withClock('racing', () => countTextTokens(text)),
			(await withClock('racing', () => countPromptTokens([{ role: 'user', content: text }]))) - 7
		]) {
			expect(counted).toBeGreaterThan(exact);
			expect(counted).toBeLessThanOrEqual(Buffer.byteLength(text));
			// The first EXACT_FLOOR_CHARS were counted exactly all the same.
			const floor = ordinaryText(EXACT_FLOOR_CHARS + 1_000);
			expect(counted).toBeLessThanOrEqual(exactCount(floor) + Buffer.byteLength(text.slice(EXACT_FLOOR_CHARS)));
		}
		// A text within the floor is exact however slow the machine.
		const short = ordinaryText(EXACT_FLOOR_CHARS - 2_000);
		expect(await withClock('racing', () => countTextTokens(short))).toBe(exactCount(short));
	});

	it('counts 100,000 repeated letters in milliseconds instead of seconds, at their true count', async () => {
		for (const [text, exact] of [
			['k'.repeat(100_000), 25_000],
			['cd'.repeat(50_000), 50_000]
		] as const) {
			const { tokens, ms } = await measured(() => countTextTokens(text));
			// Unchunked, each took 9 s (35 s on a busy machine).
			expect(ms).toBeLessThan(1_000);
			// At least the true count (measured once: 9 s each); at most a token per byte.
			expect(tokens).toBeGreaterThanOrEqual(exact);
			expect(tokens).toBeLessThanOrEqual(text.length);
		}
	});

	it('stays within a few percent of the exact count on long runs it counts in chunks', () => {
		for (const text of [
			gibberish(4_000),
			' '.repeat(4_000) + 'x',
			'😀'.repeat(2_000),
			'東京'.repeat(2_000),
			'مرحبا'.repeat(800),
			'नमस्ते'.repeat(700)
		]) {
			const ratio = countTextTokens(text) / exactCount(text);
			expect(ratio).toBeGreaterThan(0.97);
			expect(ratio).toBeLessThan(2.05);
		}
	});

	it('bounds the work on text it cannot count cheaply, never below the exact count', async () => {
		const text = gibberish(100_000, 5);
		const exact = exactCount(text);
		const { tokens, ms } = await measured(() => countTextTokens(text));
		expect(ms).toBeLessThan(2_000);
		expect(tokens).toBeGreaterThanOrEqual(exact);
		expect(tokens).toBeLessThanOrEqual(Buffer.byteLength(text));
	});

	it('counts a prompt in short slices, with one budget for the whole prompt', async () => {
		const messages = Array.from({ length: 8 }, (_, i) => ({ role: 'user', content: gibberish(100_000, 4 + i) }));
		const { tokens, ms, heldMs } = await measured(() => countPromptTokens(messages));
		expect(ms).toBeLessThan(PROMPT_BUDGET_MS + 2_000);
		// Unsliced, these eight messages held the event loop for seconds; a slice is a few ms (plus GC).
		expect(heldMs).toBeLessThan(300);
		expect(tokens).toBeGreaterThan(8 * 20_000);
	});
});
