import { PROVIDER_NAMES } from '$lib/providers';
import type { ProviderId } from './types';

// One typed error for every way a provider call can fail, worded by us: SDK messages and unknown
// codes can echo a (masked) key, bodies or URLs. Adapters classify their own SDK's errors.

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

/** The same key may well succeed if tried again (after `retryAfterSeconds`). */
const RETRYABLE: ReadonlySet<ProviderFailure> = new Set(['rate_limited', 'overloaded', 'server', 'timeout', 'network']);

/** The key itself is unusable: mark it invalid. */
const INVALIDATING: ReadonlySet<ProviderFailure> = new Set(['auth', 'forbidden']);

export function isRetryableFailure(failure: ProviderFailure): boolean {
	return RETRYABLE.has(failure);
}

export function invalidatesKeyFailure(failure: ProviderFailure): boolean {
	return INVALIDATING.has(failure);
}

const DESCRIPTIONS: Readonly<Record<ProviderFailure, (name: string) => string>> = {
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
	/** Only a code from the provider's known list (`FailureRules.knownCodes`). */
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
	/** At least one non-empty text delta was yielded: the caller must not fall back then. */
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

	get isRetryable(): boolean {
		return isRetryableFailure(this.failure);
	}

	get invalidatesKey(): boolean {
		return invalidatesKeyFailure(this.failure);
	}
}

function describe(init: ProviderErrorInit): string {
	const sentence = DESCRIPTIONS[init.failure](PROVIDER_NAMES[init.provider]);
	const facts = [init.status === undefined ? undefined : `HTTP ${init.status}`, init.providerCode].filter(Boolean);
	return facts.length > 0 ? `${sentence} (${facts.join(', ')}).` : `${sentence}.`;
}

export interface ClassifyContext {
	afterFirstToken: boolean;
	/** Our own idle timeout fired (the SDK then reports an abort). */
	timedOut?: boolean;
	/** The caller's signal aborted: wins over whatever error the abort caused. */
	aborted?: boolean;
}

/** What an adapter read from an error; `providerCode` is raw here and filtered by `classifyWith`. */
export interface Classified {
	failure: ProviderFailure;
	status?: number;
	retryAfterSeconds?: number;
	providerCode?: string;
}

/** What each adapter knows about its own provider's failures. */
export interface FailureRules {
	id: ProviderId;
	/** Its SDK's errors; undefined for anything else (sockets, fetch, JSON), which is classified here. */
	classifyError(error: unknown): Classified | undefined;
	/** The machine codes it documents. Any other code is dropped: it could carry a piece of the key. */
	knownCodes: ReadonlySet<string>;
}

/** Map anything an adapter caught to a `ProviderError`. */
export function classifyWith(rules: FailureRules, error: unknown, context: ClassifyContext): ProviderError {
	const passedOn = error instanceof ProviderError ? error : undefined;
	const classified: Classified = context.aborted
		? { failure: 'aborted' }
		: context.timedOut
			? { failure: 'timeout' }
			: (passedOn ?? rules.classifyError(error) ?? classifyBelowSdk(error));
	const code = classified.providerCode;
	return new ProviderError({
		provider: passedOn?.provider ?? rules.id,
		failure: classified.failure,
		status: classified.status,
		retryAfterSeconds: classified.retryAfterSeconds,
		// A ProviderError's code was vetted when it was made.
		providerCode: passedOn || (code !== undefined && rules.knownCodes.has(code)) ? code : undefined,
		afterFirstToken: context.afterFirstToken
	});
}

/** The meaning of an HTTP status any provider shares; adapters apply their exceptions first. */
export function failureForStatus(status: number, quotaExhausted = false): ProviderFailure {
	switch (status) {
		case 401:
			return 'auth';
		case 402:
			return 'quota';
		case 403:
			return 'forbidden';
		case 404:
			return 'not_found';
		case 408:
		case 504:
			return 'timeout';
		case 429:
			return quotaExhausted ? 'quota' : 'rate_limited';
		case 503:
		case 529:
			return 'overloaded';
		default:
			return status >= 500 || status === 409 ? 'server' : 'bad_request';
	}
}

/** The connection errors of the Stainless-built SDKs (openai, @anthropic-ai/sdk), which share their shape. */
interface ConnectionErrorClasses {
	APIUserAbortError: abstract new (...args: never[]) => Error;
	APIConnectionTimeoutError: abstract new (...args: never[]) => Error;
	APIConnectionError: abstract new (...args: never[]) => Error;
}

/** Checked before the SDK's APIError: its abort and connection errors are APIError subclasses too. */
export function sdkConnectionFailure(sdk: ConnectionErrorClasses, error: unknown): Classified | undefined {
	if (error instanceof sdk.APIUserAbortError) return { failure: 'aborted' };
	if (error instanceof sdk.APIConnectionTimeoutError) return { failure: 'timeout' };
	if (error instanceof sdk.APIConnectionError) return { failure: causeIsTimeout(error) ? 'timeout' : 'network' };
	return undefined;
}

// ---- errors thrown below the SDKs: fetch, sockets, JSON ----

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

function classifyBelowSdk(error: unknown): Classified {
	const chain = causeChain(error);
	if (chain.some((e) => e.name === 'AbortError')) return { failure: 'aborted' };
	if (causeIsTimeout(error)) return { failure: 'timeout' };
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

// ---- small helpers for the adapters' rules ----

export function stringCode(value: unknown): string | undefined {
	return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `retry-after-ms`, else `retry-after` as seconds or an HTTP date; whole seconds, rounded up. */
export function retryAfterFromHeaders(headers: Headers | undefined): number | undefined {
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
