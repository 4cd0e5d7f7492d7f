import type Anthropic from '@anthropic-ai/sdk';
import {
	GoogleGenerativeAIAbortError,
	GoogleGenerativeAIError,
	GoogleGenerativeAIFetchError,
	GoogleGenerativeAIRequestInputError
} from '@google/generative-ai';
import type OpenAI from 'openai';
import { loadedSdks } from './sdk';
import type { ProviderId } from './types';

/**
 * One typed error for every way a provider call can fail, whichever SDK raised it. The message is
 * built here from the failure kind, the HTTP status and the provider's error code, never copied
 * from the SDK: SDK messages sometimes echo a (masked) key, request bodies or URLs.
 */

export type ProviderFailure =
	| 'auth'
	| 'forbidden'
	| 'rate_limited'
	| 'quota'
	| 'overloaded'
	| 'server'
	| 'timeout'
	| 'network'
	| 'bad_request'
	| 'not_found'
	| 'aborted'
	| 'malformed';

/** Failures after which the same key may well succeed if tried again (after `retryAfterSeconds`). */
const RETRYABLE: ReadonlySet<ProviderFailure> = new Set(['rate_limited', 'overloaded', 'server', 'timeout', 'network']);

/** Failures that say the key itself is unusable: mark it invalid. */
const INVALIDATING: ReadonlySet<ProviderFailure> = new Set(['auth', 'forbidden']);

export function isRetryableFailure(failure: ProviderFailure): boolean {
	return RETRYABLE.has(failure);
}

export function invalidatesKeyFailure(failure: ProviderFailure): boolean {
	return INVALIDATING.has(failure);
}

export const PROVIDER_LABELS: Readonly<Record<ProviderId, string>> = {
	openai: 'OpenAI',
	anthropic: 'Anthropic',
	google: 'Google Gemini',
	openrouter: 'OpenRouter'
};

const DESCRIPTIONS: Readonly<Record<ProviderFailure, (label: string) => string>> = {
	auth: (p) => `${p} rejected the API key`,
	forbidden: (p) => `${p} refused access with this API key`,
	rate_limited: (p) => `The ${p} rate limit was reached`,
	quota: (p) => `The ${p} account is out of credit or quota`,
	overloaded: (p) => `${p} is overloaded`,
	server: (p) => `${p} had a server error`,
	timeout: (p) => `${p} did not answer in time`,
	network: (p) => `The connection to ${p} failed`,
	bad_request: (p) => `${p} rejected the request`,
	not_found: (p) => `${p} does not know this model`,
	aborted: (p) => `The request to ${p} was cancelled`,
	malformed: (p) => `${p} sent a response that could not be read`
};

export interface ProviderErrorInit {
	provider: ProviderId;
	failure: ProviderFailure;
	status?: number;
	retryAfterSeconds?: number;
	providerCode?: string;
	afterFirstToken: boolean;
}

export class ProviderError extends Error {
	override name = 'ProviderError';
	readonly provider: ProviderId;
	readonly failure: ProviderFailure;
	/** The HTTP status, when the provider answered with one (not for in-stream errors). */
	readonly status: number | undefined;
	readonly retryAfterSeconds: number | undefined;
	/** The provider's own machine code ('invalid_api_key', 'overloaded_error', 'API_KEY_INVALID', '402'). */
	readonly providerCode: string | undefined;
	/** True once at least one non-empty text delta was yielded: the caller must not fall back then. */
	readonly afterFirstToken: boolean;

	constructor(init: ProviderErrorInit) {
		super(describe(init));
		this.provider = init.provider;
		this.failure = init.failure;
		this.status = init.status;
		this.retryAfterSeconds = init.retryAfterSeconds;
		this.providerCode = init.providerCode;
		this.afterFirstToken = init.afterFirstToken;
	}

	/** The same key may succeed later; says nothing about `afterFirstToken`, which the caller weighs too. */
	get isRetryable(): boolean {
		return isRetryableFailure(this.failure);
	}

	/** The key is unusable (auth or forbidden): mark it invalid. */
	get invalidatesKey(): boolean {
		return invalidatesKeyFailure(this.failure);
	}
}

function describe(init: ProviderErrorInit): string {
	const sentence = DESCRIPTIONS[init.failure](PROVIDER_LABELS[init.provider]);
	const facts = [init.status === undefined ? undefined : `HTTP ${init.status}`, init.providerCode].filter(Boolean);
	return facts.length > 0 ? `${sentence} (${facts.join(', ')}).` : `${sentence}.`;
}

export interface ClassifyContext {
	afterFirstToken: boolean;
	/** Our own idle timeout fired (the SDK then reports an abort). */
	timedOut?: boolean;
	/** The caller's signal aborted: wins over whatever error the abort caused. */
	aborted?: boolean;
	/** Strings that must never appear in the error (the key): a provider code containing one is dropped. */
	secrets?: readonly string[];
}

interface Classified {
	failure: ProviderFailure;
	status?: number;
	retryAfterSeconds?: number;
	providerCode?: string;
}

/** Map anything an adapter caught to a `ProviderError`. */
export function classifyProviderFailure(provider: ProviderId, error: unknown, context: ClassifyContext): ProviderError {
	const classified = context.aborted
		? { failure: 'aborted' as const }
		: context.timedOut
			? { failure: 'timeout' as const }
			: error instanceof ProviderError
				? {
						failure: error.failure,
						status: error.status,
						retryAfterSeconds: error.retryAfterSeconds,
						providerCode: error.providerCode
					}
				: classifyError(provider, error);
	const providerCode = safeCode(classified.providerCode, context.secrets ?? []);
	return new ProviderError({
		provider: error instanceof ProviderError ? error.provider : provider,
		failure: classified.failure,
		status: classified.status,
		retryAfterSeconds: classified.retryAfterSeconds,
		providerCode,
		afterFirstToken: context.afterFirstToken
	});
}

function classifyError(provider: ProviderId, error: unknown): Classified {
	// The SDKs load with the first call (sdk.ts); before that no error of theirs can exist.
	const sdks = loadedSdks();
	if (sdks) {
		const { OpenAI, Anthropic } = sdks;
		// The SDKs' own subclasses first: abort and connection errors are APIError subclasses too.
		if (error instanceof OpenAI.APIUserAbortError || error instanceof Anthropic.APIUserAbortError) {
			return { failure: 'aborted' };
		}
		if (error instanceof OpenAI.APIConnectionTimeoutError || error instanceof Anthropic.APIConnectionTimeoutError) {
			return { failure: 'timeout' };
		}
		if (error instanceof OpenAI.APIConnectionError || error instanceof Anthropic.APIConnectionError) {
			return { failure: causeIsTimeout(error) ? 'timeout' : 'network' };
		}
		if (error instanceof OpenAI.APIError) return classifyOpenAIError(provider, error);
		if (error instanceof Anthropic.APIError) return classifyAnthropicError(error);
	}
	if (error instanceof GoogleGenerativeAIError) return classifyGoogleError(error);
	return classifyPlainError(error);
}

// ---- OpenAI and OpenRouter (both through the openai SDK) ----

function classifyOpenAIError(provider: ProviderId, error: InstanceType<typeof OpenAI.APIError>): Classified {
	const code = stringCode(error.code) ?? stringCode(error.type);
	// OpenRouter sends numeric codes ({"error":{"code":402}}), also inside a stream.
	const numericCode = typeof error.code === 'number' ? error.code : numericString(error.code);
	const retryAfterSeconds = retryAfterFromHeaders(error.headers);
	if (error.status !== undefined) {
		return {
			failure: failureForStatus(provider, error.status, { code: code ?? undefined }),
			status: error.status,
			retryAfterSeconds,
			providerCode: code ?? (numericCode === undefined ? undefined : String(numericCode))
		};
	}
	// An error event inside a 200 stream: no status, only the code the provider put in it.
	if (numericCode !== undefined) {
		return {
			failure: failureForStatus(provider, numericCode, {}),
			retryAfterSeconds,
			providerCode: String(numericCode)
		};
	}
	return { failure: failureForOpenAICode(code), retryAfterSeconds, providerCode: code };
}

function failureForOpenAICode(code: string | undefined): ProviderFailure {
	switch (code) {
		case 'invalid_api_key':
		case 'authentication_error':
			return 'auth';
		case 'insufficient_quota':
			return 'quota';
		case 'rate_limit_exceeded':
		case 'requests':
		case 'tokens':
			return 'rate_limited';
		case 'model_not_found':
			return 'not_found';
		case 'context_length_exceeded':
		case 'invalid_request_error':
			return 'bad_request';
		default:
			// An error reported mid-stream is the provider failing to finish, whatever it calls it.
			return 'server';
	}
}

// ---- Anthropic ----

function classifyAnthropicError(error: InstanceType<typeof Anthropic.APIError>): Classified {
	const code = stringCode(error.type);
	const retryAfterSeconds = retryAfterFromHeaders(error.headers);
	if (error.status !== undefined) {
		return {
			failure: failureForStatus('anthropic', error.status, { code }),
			status: error.status,
			retryAfterSeconds,
			providerCode: code
		};
	}
	// `event: error` mid-stream, e.g. overloaded_error.
	return { failure: failureForAnthropicType(code), retryAfterSeconds, providerCode: code };
}

function failureForAnthropicType(type: string | undefined): ProviderFailure {
	switch (type) {
		case 'authentication_error':
			return 'auth';
		case 'permission_error':
			return 'forbidden';
		case 'billing_error':
			return 'quota';
		case 'rate_limit_error':
			return 'rate_limited';
		case 'overloaded_error':
			return 'overloaded';
		case 'not_found_error':
			return 'not_found';
		case 'invalid_request_error':
		case 'request_too_large':
			return 'bad_request';
		case 'timeout_error':
			return 'timeout';
		default:
			return 'server';
	}
}

// ---- Google ----

function classifyGoogleError(error: GoogleGenerativeAIError): Classified {
	if (error instanceof GoogleGenerativeAIAbortError) return { failure: 'aborted' };
	if (error instanceof GoogleGenerativeAIFetchError) {
		const details = Array.isArray(error.errorDetails) ? (error.errorDetails as unknown[]) : [];
		const reason = googleReason(details);
		const quotaId = googleDailyQuotaId(details);
		const status = error.status;
		if (status === undefined) return { failure: 'network', providerCode: reason };
		return {
			failure: failureForStatus('google', status, { reason, dailyQuota: quotaId !== undefined }),
			status,
			retryAfterSeconds: googleRetryDelay(details),
			providerCode: reason ?? quotaId
		};
	}
	if (error instanceof GoogleGenerativeAIRequestInputError) return { failure: 'bad_request' };
	// The SDK wraps stream failures in plain GoogleGenerativeAIErrors; only the message tells them apart.
	if (/Error parsing JSON response|Failed to parse stream/.test(error.message)) return { failure: 'malformed' };
	if (/Error reading from the stream|Error fetching from/.test(error.message)) return { failure: 'network' };
	return { failure: 'malformed' };
}

function googleReason(details: unknown[]): string | undefined {
	for (const detail of details) {
		if (isRecord(detail) && typeof detail.reason === 'string') return detail.reason;
	}
	return undefined;
}

/**
 * Google answers both a per-minute rate limit and an exhausted daily (or billing) quota with 429
 * RESOURCE_EXHAUSTED; a QuotaFailure naming a per-day quota is the one that will not pass soon.
 */
function googleDailyQuotaId(details: unknown[]): string | undefined {
	for (const detail of details) {
		if (!isRecord(detail) || !String(detail['@type']).endsWith('google.rpc.QuotaFailure')) continue;
		const violations = Array.isArray(detail.violations) ? (detail.violations as unknown[]) : [];
		for (const violation of violations) {
			if (!isRecord(violation)) continue;
			const quotaId = typeof violation.quotaId === 'string' ? violation.quotaId : '';
			const metric = typeof violation.quotaMetric === 'string' ? violation.quotaMetric : '';
			if (/PerDay/i.test(quotaId) || /per_day|daily/i.test(metric)) return quotaId || metric;
		}
	}
	return undefined;
}

function googleRetryDelay(details: unknown[]): number | undefined {
	for (const detail of details) {
		if (!isRecord(detail) || !String(detail['@type']).endsWith('google.rpc.RetryInfo')) continue;
		const match = /^(\d+(?:\.\d+)?)s$/.exec(String(detail.retryDelay));
		if (match?.[1]) return Math.ceil(Number(match[1]));
	}
	return undefined;
}

// ---- HTTP statuses, shared ----

function failureForStatus(
	provider: ProviderId,
	status: number,
	hints: { code?: string; reason?: string; dailyQuota?: boolean }
): ProviderFailure {
	switch (status) {
		case 400:
			// Google answers an invalid key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
			return provider === 'google' && hints.reason === 'API_KEY_INVALID' ? 'auth' : 'bad_request';
		case 401:
			return 'auth';
		case 402:
			return 'quota';
		case 403:
			// OpenRouter's 403 means the prompt was flagged by moderation: the key is fine, and the
			// key is often the app's own, shared by every user.
			return provider === 'openrouter' ? 'bad_request' : 'forbidden';
		case 404:
			return 'not_found';
		case 408:
			return 'timeout';
		case 429:
			if (hints.code === 'insufficient_quota' || hints.dailyQuota) return 'quota';
			return 'rate_limited';
		case 503:
		case 529:
			return 'overloaded';
		case 504:
			return 'timeout';
		default:
			if (status >= 500) return 'server';
			if (status === 409) return 'server';
			return 'bad_request';
	}
}

// ---- Errors thrown below the SDKs: fetch, sockets, JSON ----

const NETWORK_CODES = new Set([
	'ECONNRESET',
	'ECONNREFUSED',
	'ECONNABORTED',
	'EPIPE',
	'ENOTFOUND',
	'EAI_AGAIN',
	'EHOSTUNREACH',
	'ENETUNREACH',
	'UND_ERR_SOCKET',
	'UND_ERR_CLOSED'
]);
const TIMEOUT_CODES = new Set([
	'ETIMEDOUT',
	'UND_ERR_CONNECT_TIMEOUT',
	'UND_ERR_HEADERS_TIMEOUT',
	'UND_ERR_BODY_TIMEOUT'
]);

function classifyPlainError(error: unknown): Classified {
	const chain = causeChain(error);
	if (chain.some((e) => e.name === 'AbortError')) return { failure: 'aborted' };
	if (chain.some((e) => e.name === 'TimeoutError' || TIMEOUT_CODES.has(errorCode(e)))) return { failure: 'timeout' };
	if (chain.some((e) => e instanceof SyntaxError)) return { failure: 'malformed' };
	if (
		chain.some(
			(e) =>
				NETWORK_CODES.has(errorCode(e)) ||
				(e instanceof TypeError && /^(terminated|fetch failed|other side closed)/.test(e.message))
		)
	) {
		return { failure: 'network' };
	}
	return { failure: 'malformed' };
}

function causeIsTimeout(error: unknown): boolean {
	return causeChain(error).some((e) => e.name === 'TimeoutError' || TIMEOUT_CODES.has(errorCode(e)));
}

/** The error and its causes, a few levels deep (undici nests the socket error under `cause`). */
function causeChain(error: unknown): Error[] {
	const chain: Error[] = [];
	let current: unknown = error;
	while (current instanceof Error && chain.length < 6) {
		chain.push(current);
		current = (current as { cause?: unknown }).cause;
	}
	return chain;
}

function errorCode(error: Error): string {
	const code = (error as { code?: unknown }).code;
	return typeof code === 'string' ? code : '';
}

// ---- small helpers ----

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringCode(value: unknown): string | undefined {
	return typeof value === 'string' && value !== '' ? value : undefined;
}

function numericString(value: unknown): number | undefined {
	return typeof value === 'string' && /^\d{3}$/.test(value) ? Number(value) : undefined;
}

/** `retry-after-ms`, else `retry-after` as seconds or an HTTP date; whole seconds, rounded up. */
function retryAfterFromHeaders(headers: Headers | undefined): number | undefined {
	if (!headers || typeof headers.get !== 'function') return undefined;
	const milliseconds = Number(headers.get('retry-after-ms') ?? NaN);
	if (Number.isFinite(milliseconds) && milliseconds >= 0) return Math.ceil(milliseconds / 1000);
	const value = headers.get('retry-after');
	if (value === null || value.trim() === '') return undefined;
	const seconds = Number(value);
	if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
	const date = Date.parse(value);
	return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** A provider code is kept only if it looks like a code and shares nothing with a secret. */
function safeCode(code: string | undefined, secrets: readonly string[]): string | undefined {
	if (code === undefined || !/^[A-Za-z0-9_.:-]{1,80}$/.test(code)) return undefined;
	for (const secret of secrets) {
		if (secret === '') continue;
		if (code.includes(secret) || (code.length >= 8 && secret.includes(code))) return undefined;
	}
	return code;
}
