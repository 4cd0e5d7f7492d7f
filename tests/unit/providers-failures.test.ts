// Every failure behaviour of the fakes, for every provider, stream and not: classified into one
// ProviderError with the right kind, status, retry hints and afterFirstToken, and never the key.
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenerativeAIError, GoogleGenerativeAIFetchError } from '@google/generative-ai';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { classifyProviderFailure, ProviderError, type ProviderFailure, type ProviderId } from '$lib/server/providers';
import { loadSdks } from '$lib/server/providers/sdk';
import { BEHAVIOURS, type Behaviour } from '../fakes/server';
import { callFor, drain, newKey, PROVIDERS, providerError, useFakeProviders } from './providers-support';

const fakes = useFakeProviders();

interface Expected {
	failure: ProviderFailure;
	status?: number;
	providerCode?: string;
}

/** What each refusing behaviour must become, per provider (see tests/fakes/README.md). */
const BEFORE_FIRST_TOKEN: Record<ProviderId, Partial<Record<Behaviour | 'unknown_key', Expected>>> = {
	openai: {
		unknown_key: { failure: 'auth', status: 401, providerCode: 'invalid_api_key' },
		'401': { failure: 'auth', status: 401, providerCode: 'invalid_api_key' },
		'403': { failure: 'forbidden', status: 403, providerCode: 'unsupported_country_region_territory' },
		'429': { failure: 'rate_limited', status: 429, providerCode: 'rate_limit_exceeded' },
		quota: { failure: 'quota', status: 429, providerCode: 'insufficient_quota' },
		// No code in these bodies: the error type stands in for it.
		'500': { failure: 'server', status: 500, providerCode: 'server_error' },
		'503': { failure: 'overloaded', status: 503, providerCode: 'server_error' }
	},
	anthropic: {
		unknown_key: { failure: 'auth', status: 401, providerCode: 'authentication_error' },
		'401': { failure: 'auth', status: 401, providerCode: 'authentication_error' },
		'403': { failure: 'forbidden', status: 403, providerCode: 'permission_error' },
		'429': { failure: 'rate_limited', status: 429, providerCode: 'rate_limit_error' },
		quota: { failure: 'quota', status: 402, providerCode: 'billing_error' },
		'500': { failure: 'server', status: 500, providerCode: 'api_error' },
		'503': { failure: 'overloaded', status: 529, providerCode: 'overloaded_error' }
	},
	google: {
		// Google answers an invalid key with 400 INVALID_ARGUMENT / API_KEY_INVALID, not 401.
		unknown_key: { failure: 'auth', status: 400, providerCode: 'API_KEY_INVALID' },
		'401': { failure: 'auth', status: 400, providerCode: 'API_KEY_INVALID' },
		'403': { failure: 'forbidden', status: 403, providerCode: 'PERMISSION_DENIED' },
		'429': { failure: 'rate_limited', status: 429 },
		quota: {
			failure: 'quota',
			status: 429,
			providerCode: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier'
		},
		'500': { failure: 'server', status: 500 },
		'503': { failure: 'overloaded', status: 503 }
	},
	openrouter: {
		unknown_key: { failure: 'auth', status: 401, providerCode: '401' },
		'401': { failure: 'auth', status: 401, providerCode: '401' },
		// OpenRouter's 403 is its moderation refusing the prompt: the (often shared app) key is fine.
		'403': { failure: 'bad_request', status: 403, providerCode: '403' },
		'429': { failure: 'rate_limited', status: 429, providerCode: '429' },
		quota: { failure: 'quota', status: 402, providerCode: '402' },
		'500': { failure: 'server', status: 500, providerCode: '500' },
		'503': { failure: 'overloaded', status: 503, providerCode: '503' }
	}
};

/** Failures that arrive after the first chunk of a stream. */
const AFTER_FIRST_TOKEN: Record<ProviderId, Record<'reset' | 'malformed' | 'midstream_error', ProviderFailure>> = {
	openai: { reset: 'network', malformed: 'malformed', midstream_error: 'server' },
	anthropic: { reset: 'network', malformed: 'malformed', midstream_error: 'overloaded' },
	// Gemini has no in-stream error event: its streams fail by dropping the connection.
	google: { reset: 'network', malformed: 'malformed', midstream_error: 'network' },
	openrouter: { reset: 'network', malformed: 'malformed', midstream_error: 'server' }
};

const RETRYABLE: ProviderFailure[] = ['rate_limited', 'overloaded', 'server', 'timeout', 'network'];
const INVALIDATING: ProviderFailure[] = ['auth', 'forbidden'];

describe.each(PROVIDERS)('%s failures', (provider: ProviderId) => {
	const refusals = Object.entries(BEFORE_FIRST_TOKEN[provider]) as [Behaviour | 'unknown_key', Expected][];

	it.each(refusals.flatMap(([behaviour, expected]) => [true, false].map((stream) => [behaviour, stream, expected])))(
		'classifies %s (stream: %s) before the first token',
		async (behaviour, stream, expected) => {
			const { fake } = fakes;
			const key =
				behaviour === 'unknown_key'
					? newKey(fake, provider, 'ok', false)
					: newKey(fake, provider, { behaviour: behaviour as Behaviour, retryAfterSeconds: 7 });
			const { events, error } = await drain(fake, provider, callFor(provider, key, { stream: stream as boolean }));

			expect(events).toEqual([]);
			const failure = providerError(error);
			const want = expected as Expected;
			expect(failure).toMatchObject({ provider, failure: want.failure, status: want.status, afterFirstToken: false });
			expect(failure.providerCode).toBe(want.providerCode);
			expect(failure.isRetryable).toBe(RETRYABLE.includes(want.failure));
			expect(failure.invalidatesKey).toBe(INVALIDATING.includes(want.failure));
			if (behaviour === '429') expect(failure.retryAfterSeconds).toBe(7);
		}
	);

	it.each(['reset', 'malformed', 'midstream_error'] as const)(
		'classifies %s after the first delta, with afterFirstToken',
		async (behaviour) => {
			const { fake } = fakes;
			const key = newKey(fake, provider, behaviour);
			const { deltas, events, error } = await drain(fake, provider, callFor(provider, key, { stream: true }));

			expect(deltas).toHaveLength(1);
			expect(events.some((e) => e.type === 'finish')).toBe(false);
			expect(providerError(error)).toMatchObject({
				failure: AFTER_FIRST_TOKEN[provider][behaviour],
				afterFirstToken: true
			});
		}
	);

	it.each([true, false])(
		'classifies a connection reset before any response byte (stream: %s) as a retryable network failure',
		async (stream) => {
			const { fake } = fakes;
			const key = newKey(fake, provider, 'reset_before');
			const { events, error } = await drain(fake, provider, callFor(provider, key, { stream }));
			expect(events).toEqual([]);
			const failure = providerError(error);
			expect(failure).toMatchObject({ provider, failure: 'network', afterFirstToken: false });
			expect(failure.status).toBeUndefined();
			expect(failure.isRetryable).toBe(true);
			expect(failure.invalidatesKey).toBe(false);
		}
	);

	it('classifies a reset and a broken body without streaming, before any token', async () => {
		const { fake } = fakes;
		const reset = await drain(fake, provider, callFor(provider, newKey(fake, provider, 'reset'), { stream: false }));
		expect(providerError(reset.error)).toMatchObject({ failure: 'network', afterFirstToken: false });
		const broken = await drain(
			fake,
			provider,
			callFor(provider, newKey(fake, provider, 'malformed'), { stream: false })
		);
		expect(providerError(broken.error)).toMatchObject({ failure: 'malformed', afterFirstToken: false });
	});
});

describe('keys never leak into errors', () => {
	it('for any behaviour of any provider, stream or not, in message, stack or properties', async () => {
		const { fake } = fakes;
		const seen: { key: string; error: ProviderError }[] = [];
		for (const provider of PROVIDERS) {
			for (const behaviour of [...BEHAVIOURS, 'unknown_key'] as const) {
				if (behaviour === 'ok' || behaviour === 'no_usage') continue;
				for (const stream of [true, false]) {
					const key =
						behaviour === 'unknown_key'
							? newKey(fake, provider, 'ok', false)
							: newKey(fake, provider, { behaviour, firstByteDelayMs: behaviour === 'slow' ? 2000 : 0 });
					const { error } = await drain(fake, provider, callFor(provider, key, { stream, timeoutMs: 300 }));
					if (behaviour === 'midstream_error' && !stream) continue; // answers normally
					seen.push({ key, error: providerError(error) });
				}
			}
		}
		expect(seen.length).toBeGreaterThan(80);
		for (const { key, error } of seen) {
			const exposed = [
				error.message,
				error.stack ?? '',
				String(error),
				JSON.stringify(error),
				JSON.stringify(Object.getOwnPropertyNames(error).map((name) => [name, String(Reflect.get(error, name))]))
			].join('\n');
			expect(exposed).not.toContain(key);
			// Not even the tail the fakes echo in masked form ('sk-***...abcd').
			expect(error.message).not.toContain(key.slice(-4));
			expect(error).not.toHaveProperty('cause');
		}
	});
});

describe('provider codes that are not on the known list', () => {
	it.each(PROVIDERS)(
		'drops a %s code carrying a piece of the key, before and after the first token',
		async (provider) => {
			const { fake } = fakes;
			const cases = [
				...(['401', '429', '500'] as const).flatMap((behaviour) =>
					[true, false].map((stream) => ({ behaviour, stream }))
				),
				// Gemini streams fail by dropping the connection: no code to carry.
				...(provider === 'google' ? [] : [{ behaviour: 'midstream_error' as const, stream: true }])
			];
			for (const { behaviour, stream } of cases) {
				const key = newKey(fake, provider, 'ok', false);
				const piece = key.slice(-24, -8);
				fake.registerKey(provider, key, { behaviour, errorCode: `invalid_api_key:${piece}` });
				const failure = providerError((await drain(fake, provider, callFor(provider, key, { stream }))).error);
				expect(failure.providerCode, `${behaviour}, stream: ${stream}`).toBeUndefined();
				expect(failure.message).not.toContain(piece);
				expect(JSON.stringify(failure)).not.toContain(piece);
			}
		}
	);
});

describe('classifyProviderFailure', () => {
	const before = { afterFirstToken: false };
	// As after any real call: the SDKs load with the first one (providers/sdk.ts).
	beforeAll(() => loadSdks());

	it('reads OpenRouter numeric error codes inside a stream', () => {
		const error = new OpenAI.APIError(undefined, { code: 502, message: 'upstream died' }, undefined, undefined);
		expect(classifyProviderFailure('openrouter', error, before)).toMatchObject({
			failure: 'server',
			providerCode: '502',
			status: undefined
		});
		const limited = new OpenAI.APIError(undefined, { code: 429, message: 'slow down' }, undefined, undefined);
		expect(classifyProviderFailure('openrouter', limited, before).failure).toBe('rate_limited');
	});

	it('maps Anthropic in-stream error types', () => {
		const overloaded = new Anthropic.APIError(
			undefined,
			{ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
			undefined,
			undefined
		);
		expect(classifyProviderFailure('anthropic', overloaded, before)).toMatchObject({
			failure: 'overloaded',
			providerCode: 'overloaded_error'
		});
	});

	it('treats socket resets, fetch failures and undici timeouts below the SDKs by their cause', () => {
		const reset = new TypeError('terminated', {
			cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
		});
		expect(classifyProviderFailure('openai', reset, before).failure).toBe('network');
		const refused = new TypeError('fetch failed', {
			cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
		});
		expect(classifyProviderFailure('anthropic', refused, before).failure).toBe('network');
		const headers = new TypeError('fetch failed', {
			cause: Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
		});
		expect(classifyProviderFailure('google', headers, before).failure).toBe('timeout');
		expect(classifyProviderFailure('google', new SyntaxError('Unexpected end of JSON input'), before).failure).toBe(
			'malformed'
		);
	});

	it('reads Google stream failures from the SDK wrapper', () => {
		const parse = new GoogleGenerativeAIError('Error parsing JSON response: "{"');
		expect(classifyProviderFailure('google', parse, before).failure).toBe('malformed');
		const read = new GoogleGenerativeAIError('Error reading from the stream');
		expect(classifyProviderFailure('google', read, before).failure).toBe('network');
		const perMinute = new GoogleGenerativeAIFetchError('429', 429, 'Too Many Requests', [
			{
				'@type': 'type.googleapis.com/google.rpc.QuotaFailure',
				violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }]
			},
			{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12.4s' }
		]);
		expect(classifyProviderFailure('google', perMinute, before)).toMatchObject({
			failure: 'rate_limited',
			retryAfterSeconds: 13
		});
	});

	it('reads retry-after as seconds, milliseconds or an HTTP date', () => {
		const inSeconds = new OpenAI.RateLimitError(429, {}, undefined, new Headers({ 'retry-after': '3' }));
		expect(classifyProviderFailure('openai', inSeconds, before).retryAfterSeconds).toBe(3);
		const inMs = new OpenAI.RateLimitError(429, {}, undefined, new Headers({ 'retry-after-ms': '1500' }));
		expect(classifyProviderFailure('openai', inMs, before).retryAfterSeconds).toBe(2);
		const date = new Date(Date.now() + 30_000).toUTCString();
		const asDate = new Anthropic.RateLimitError(429, {}, undefined, new Headers({ 'retry-after': date }));
		const seconds = classifyProviderFailure('anthropic', asDate, before).retryAfterSeconds ?? 0;
		expect(seconds).toBeGreaterThan(20);
		expect(seconds).toBeLessThanOrEqual(31);
	});

	it('lets the caller abort and our timeout win over whatever error they caused', () => {
		const error = new OpenAI.APIConnectionError({ message: 'Connection error.' });
		expect(classifyProviderFailure('openai', error, { afterFirstToken: true, aborted: true })).toMatchObject({
			failure: 'aborted',
			afterFirstToken: true
		});
		expect(classifyProviderFailure('openai', error, { afterFirstToken: false, timedOut: true }).failure).toBe(
			'timeout'
		);
	});

	it('drops a provider code that contains the key', () => {
		const key = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';
		const echoing = new OpenAI.AuthenticationError(401, { code: key }, undefined, new Headers());
		const failure = classifyProviderFailure('openai', echoing, { afterFirstToken: false });
		expect(failure.providerCode).toBeUndefined();
		expect(failure.message).toBe('OpenAI rejected the API key (HTTP 401).');
	});
});
