// Provider adapters against the fake providers, through the real SDKs: replies, usage, cost,
// finish reasons, what goes over the wire, abort and timeouts.
import { describe, expect, it } from 'vitest';
import { getAdapter, ProviderError, type ProviderEvent, type ProviderId } from '$lib/server/providers';
import { defaultReply, fakePriceOf, usageFor } from '../fakes/server';
import {
	callFor,
	drain,
	lastChat,
	MODEL,
	newKey,
	PROMPT,
	PROMPT_TEXTS,
	PROVIDERS,
	providerError,
	useFakeProviders,
	waitFor
} from './providers-support';

const fakes = useFakeProviders();

/** Deltas, then at most one usage, then exactly one finish, last. */
function expectWellOrdered(events: ProviderEvent[]): void {
	const kinds = events.map((e) => e.type).join(',');
	expect(kinds).toMatch(/^(delta,)*(usage,)?finish$/);
}

function usageOf(events: ProviderEvent[]) {
	return events.find((e): e is Extract<ProviderEvent, { type: 'usage' }> => e.type === 'usage');
}

/** What the OpenRouter fake charges, in integer micro-dollars rounded up (its prices are per Mtok). */
function fakeCostMicros(model: string, promptTokens: number, completionTokens: number): number {
	const price = fakePriceOf(model);
	return Math.ceil(
		(promptTokens * price.promptMicroUsdPerMTok + completionTokens * price.completionMicroUsdPerMTok) / 1e6
	);
}

describe.each(PROVIDERS)('%s adapter', (provider: ProviderId) => {
	const reply = defaultReply(provider, MODEL[provider], PROMPT);
	const expectedUsage = usageFor(PROMPT_TEXTS, reply);

	it.each([true, false])('answers with the full reply, its usage and a stop (stream: %s)', async (stream) => {
		const { fake } = fakes;
		const key = newKey(fake, provider);
		const { events, deltas, text, error } = await drain(fake, provider, callFor(provider, key, { stream }));

		expect(error).toBeUndefined();
		expect(text).toBe(reply);
		if (stream) expect(deltas.length).toBeGreaterThanOrEqual(3);
		else expect(deltas).toHaveLength(1);
		expectWellOrdered(events);
		expect(usageOf(events)).toMatchObject({
			promptTokens: expectedUsage.promptTokens,
			completionTokens: expectedUsage.completionTokens
		});
		expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
		expect(lastChat(fake)).toMatchObject({ model: MODEL[provider], stream, completed: true });
	});

	it.each([true, false])('ends without a usage event when the provider sends none (stream: %s)', async (stream) => {
		const { fake } = fakes;
		const key = newKey(fake, provider, 'no_usage');
		const { events, text, error } = await drain(fake, provider, callFor(provider, key, { stream }));

		expect(error).toBeUndefined();
		expect(text).toBe(reply);
		expect(usageOf(events)).toBeUndefined();
		expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
	});

	it('closes the upstream stream and throws aborted when the caller aborts mid-stream', async () => {
		const { fake } = fakes;
		const key = newKey(fake, provider, { behaviour: 'ok', chunkDelayMs: 100, reply: 'many words '.repeat(60) });
		const controller = new AbortController();
		let abortedAt = 0;
		const { deltas, error } = await drain(
			fake,
			provider,
			callFor(provider, key, { signal: controller.signal }),
			(e) => {
				if (e.type === 'delta' && abortedAt === 0) {
					abortedAt = Date.now();
					controller.abort();
				}
			}
		);

		expect(deltas.length).toBeGreaterThanOrEqual(1);
		expect(providerError(error)).toMatchObject({ failure: 'aborted', afterFirstToken: true });
		await waitFor(() => lastChat(fake).closedByClient, 1000);
		expect(lastChat(fake)).toMatchObject({ closedByClient: true, completed: false });
		expect((lastChat(fake).endedAt ?? Infinity) - abortedAt).toBeLessThan(1000);
	});

	it('closes the upstream request when aborted before the first byte', async () => {
		const { fake } = fakes;
		const key = newKey(fake, provider, { behaviour: 'slow', firstByteDelayMs: 5000 });
		const controller = new AbortController();
		setTimeout(() => controller.abort(), 100);
		const { events, error } = await drain(fake, provider, callFor(provider, key, { signal: controller.signal }));

		expect(events).toEqual([]);
		expect(providerError(error)).toMatchObject({ failure: 'aborted', afterFirstToken: false });
		await waitFor(() => lastChat(fake).closedByClient, 1000);
	});

	it('closes the upstream stream when the caller stops reading', async () => {
		const { fake } = fakes;
		const key = newKey(fake, provider, { behaviour: 'ok', chunkDelayMs: 100, reply: 'many words '.repeat(60) });
		const { deltas, error } = await drain(fake, provider, callFor(provider, key), (e) =>
			e.type === 'delta' ? 'stop' : undefined
		);

		expect(error).toBeUndefined();
		expect(deltas).toHaveLength(1);
		await waitFor(() => lastChat(fake).closedByClient, 1000);
	});

	it.each([true, false])('times out when the provider is silent longer than timeoutMs (stream: %s)', async (stream) => {
		const { fake } = fakes;
		const key = newKey(fake, provider, { behaviour: 'slow', firstByteDelayMs: 3000 });
		const startedAt = Date.now();
		const { events, error } = await drain(fake, provider, callFor(provider, key, { stream, timeoutMs: 200 }));

		expect(events).toEqual([]);
		const failure = providerError(error);
		expect(failure).toMatchObject({ failure: 'timeout', afterFirstToken: false });
		expect(failure.isRetryable).toBe(true);
		expect(Date.now() - startedAt).toBeLessThan(2500);
		await waitFor(() => lastChat(fake).closedByClient, 1000);
	});

	it('times out a stream that stalls after its first token', async () => {
		const { fake } = fakes;
		const key = newKey(fake, provider, { behaviour: 'ok', chunkDelayMs: 2000 });
		const { deltas, error } = await drain(fake, provider, callFor(provider, key, { timeoutMs: 300 }));

		expect(deltas.length).toBeGreaterThanOrEqual(1);
		expect(providerError(error)).toMatchObject({ failure: 'timeout', afterFirstToken: true });
	});

	it('lets a long stream run past timeoutMs as long as chunks keep coming', async () => {
		const { fake } = fakes;
		const longReply = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen';
		const key = newKey(fake, provider, { behaviour: 'ok', chunkDelayMs: 120, reply: longReply });
		const startedAt = Date.now();
		const { text, error } = await drain(fake, provider, callFor(provider, key, { timeoutMs: 400 }));

		expect(error).toBeUndefined();
		expect(text).toBe(longReply);
		expect(Date.now() - startedAt).toBeGreaterThan(400);
	});
});

describe('what goes over the wire', () => {
	it('OpenAI streams ask for usage and send max_completion_tokens and temperature', async () => {
		const { fake } = fakes;
		const key = newKey(fake, 'openai');
		await drain(fake, 'openai', callFor('openai', key, { temperature: 0.2, maxOutputTokens: 99 }));
		expect(lastChat(fake).body).toMatchObject({
			model: 'gpt-4o-mini',
			stream: true,
			stream_options: { include_usage: true },
			max_completion_tokens: 99,
			temperature: 0.2,
			messages: [
				{ role: 'system', content: 'Be brief.' },
				{ role: 'user', content: 'Hello there' },
				{ role: 'assistant', content: 'Hi! How can I help?' },
				{ role: 'user', content: PROMPT }
			]
		});
	});

	it('Anthropic gets max_tokens and a system parameter, and never temperature', async () => {
		const { fake } = fakes;
		const key = newKey(fake, 'anthropic');
		for (const stream of [true, false]) {
			const { error } = await drain(
				fake,
				'anthropic',
				callFor('anthropic', key, { stream, temperature: 0.7, maxOutputTokens: 77 })
			);
			expect(error).toBeUndefined();
			const body = lastChat(fake).body;
			expect(body).toMatchObject({
				model: 'claude-sonnet-4-20250514',
				max_tokens: 77,
				system: 'Be brief.',
				messages: [
					{ role: 'user', content: 'Hello there' },
					{ role: 'assistant', content: 'Hi! How can I help?' },
					{ role: 'user', content: PROMPT }
				]
			});
			expect(body).not.toHaveProperty('temperature');
			expect(body).not.toHaveProperty('top_p');
			expect(body).not.toHaveProperty('top_k');
		}
	});

	it('Google gets a system instruction, model turns and a generation config', async () => {
		const { fake } = fakes;
		const key = newKey(fake, 'google');
		await drain(fake, 'google', callFor('google', key, { temperature: 0.4, maxOutputTokens: 55 }));
		expect(lastChat(fake)).toMatchObject({ path: '/google/v1beta/models/gemini-2.5-flash:streamGenerateContent' });
		expect(lastChat(fake).body).toMatchObject({
			systemInstruction: { parts: [{ text: 'Be brief.' }] },
			contents: [
				{ role: 'user', parts: [{ text: 'Hello there' }] },
				{ role: 'model', parts: [{ text: 'Hi! How can I help?' }] },
				{ role: 'user', parts: [{ text: PROMPT }] }
			],
			generationConfig: { maxOutputTokens: 55, temperature: 0.4 }
		});
	});

	it('OpenRouter asks for usage and reports the cost it charged, in micro-dollars rounded up', async () => {
		const { fake } = fakes;
		for (const model of ['openai/gpt-4o-mini', 'anthropic/claude-sonnet-4.5', 'meta-llama/llama-3.3-70b-instruct']) {
			for (const stream of [true, false]) {
				const key = newKey(fake, 'openrouter');
				const { events, error } = await drain(fake, 'openrouter', callFor('openrouter', key, { model, stream }));
				expect(error).toBeUndefined();
				const usage = usageFor(PROMPT_TEXTS, defaultReply('openrouter', model, PROMPT));
				expect(usageOf(events)).toEqual({
					type: 'usage',
					promptTokens: usage.promptTokens,
					completionTokens: usage.completionTokens,
					costMicros: fakeCostMicros(model, usage.promptTokens, usage.completionTokens)
				});
				expect(lastChat(fake).body).toMatchObject({ model, usage: { include: true }, max_tokens: 256 });
			}
		}
	});

	it('only OpenRouter reports a cost', async () => {
		const { fake } = fakes;
		for (const provider of ['openai', 'anthropic', 'google'] as const) {
			const { events } = await drain(fake, provider, callFor(provider, newKey(fake, provider)));
			expect(usageOf(events)).not.toHaveProperty('costMicros');
		}
	});

	it('sends the key only in the auth header, never in the URL', async () => {
		const { fake } = fakes;
		for (const provider of PROVIDERS) {
			const key = newKey(fake, provider);
			await drain(fake, provider, callFor(provider, key));
			expect(lastChat(fake)).toMatchObject({ key: key.slice(-4), completed: true });
			expect(lastChat(fake).path).not.toContain(key);
		}
	});
});

describe('registry', () => {
	it('returns an adapter for each provider, under its own id', () => {
		for (const provider of PROVIDERS) expect(getAdapter(provider).id).toBe(provider);
	});

	it('throws only ProviderErrors, even for a model the provider does not know', async () => {
		const { fake } = fakes;
		for (const provider of PROVIDERS) {
			const key = newKey(fake, provider);
			const model = provider === 'openrouter' ? 'openai/gpt-99' : 'no-such-model';
			const { error } = await drain(fake, provider, callFor(provider, key, { model }));
			expect(error).toBeInstanceOf(ProviderError);
			// OpenRouter answers an unknown model with 400, the others with 404.
			expect(providerError(error).failure).toBe(provider === 'openrouter' ? 'bad_request' : 'not_found');
		}
	});
});
