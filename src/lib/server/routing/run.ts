import type { Kysely } from 'kysely';
import type { Config } from '$lib/server/config';
import type { Database, KeySource } from '$lib/server/db';
import { isDatabaseUnavailable } from '$lib/server/db';
import { AppError, badRequest, isAppError } from '$lib/server/errors';
import type { Logger } from '$lib/server/log';
import {
	countPromptTokens,
	countTextTokens,
	loadTokenizer,
	costMicros,
	getModel,
	worstCaseCostMicros,
	type CatalogModel
} from '$lib/server/catalog';
import {
	classifyProviderFailure,
	getAdapter,
	invalidatesKeyFailure,
	isRetryableFailure,
	PROVIDER_LABELS,
	ProviderError,
	type ChatMessage,
	type FinishReason,
	type ProviderEvent,
	type ProviderId
} from '$lib/server/providers';
import {
	admissionOf,
	admit,
	release,
	releaseRequest,
	settle,
	type Admission,
	type AdmitRequest,
	type AdmitRow
} from '$lib/server/limits';
import { markKeyInvalid, markKeyUsed, withRoutableKey, type RoutableKey } from '$lib/server/keys';
import type { Keyring } from '$lib/server/vault';
import type { UsageRecord, UsageWriter } from '$lib/server/usage';
import { ownKeyProviders, planRoute, type RouteAttempt, type UserKeyState } from './plan';
import { routingFactsOf, type RoutingFacts } from './facts';
import { fallbackMessage, fallbackReasonOf, ownLimitMessage, skippedMessage, type FallbackReason } from './messages';
import { SERVER_SHUTDOWN, type ActiveChats } from './active';

/**
 * The request path of a chat: plan the key source, admit against limits and caps, open the key,
 * call the provider, and before the first token retry once and fall back; after it, never splice
 * two answers. Whatever happens, the reservation is settled and exactly one usage record is written.
 */

export interface ChatRequest {
	userId: string;
	/** Public model id, `provider/model`. */
	modelId: string;
	messages: ChatMessage[];
	maxOutputTokens?: number;
	temperature?: number;
	stream: boolean;
	api: 'web' | 'openai';
	requestId: string;
	/** Aborts when the client goes away. */
	signal: AbortSignal;
	/**
	 * The user's routing facts when the caller already read them (the API reads them in the same
	 * statement as the access token); otherwise routing reads them.
	 */
	facts?: RoutingFacts;
	/** The request's estimate when the caller already made it (`estimateChat`). */
	estimate?: ChatEstimate;
	/**
	 * The admission the caller already made for the user's own key with `ownKeyAdmission` (the
	 * API admits in the same statement as the token check, when the user has a usable own key for
	 * the model): the first attempt takes it instead of admitting again.
	 */
	ownKeyAdmitted?: AdmitRow;
}

/** Observers for metrics and logs; every hook is optional and must not throw. */
export interface RoutingHooks {
	attemptFailed?(info: {
		provider: ProviderId;
		keySource: KeySource;
		failure: ProviderError['failure'];
		afterFirstToken: boolean;
	}): void;
	fellBack?(info: { provider: ProviderId; reason: FallbackReason }): void;
	refused?(info: { provider: ProviderId; keySource: KeySource; code: string }): void;
	completed?(record: UsageRecord): void;
	streamOpened?(): void;
	streamClosed?(): void;
}

export interface ChatDeps {
	db: Kysely<Database>;
	config: Config;
	keyring: Keyring;
	usageWriter: UsageWriter;
	log: Logger;
	hooks?: RoutingHooks;
	/** The requests in flight in this process, which graceful shutdown stops and waits for. */
	activeChats?: ActiveChats;
}

export interface FinalUsage {
	promptTokens: number;
	completionTokens: number;
	costMicros: number;
	estimated: boolean;
}

export type SessionEvent =
	| { type: 'delta'; text: string }
	| { type: 'done'; finishReason: FinishReason; usage: FinalUsage }
	| { type: 'error'; error: AppError; usage: FinalUsage };

export interface ChatSession {
	requestId: string;
	model: CatalogModel;
	keySource: KeySource;
	servedBy: ProviderId;
	fallback: { reason: FallbackReason; message: string } | null;
	/** delta… then exactly one `done` or `error`. Stop iterating (return()) to abort. */
	events: AsyncGenerator<SessionEvent, void, undefined>;
	/** Stops the upstream call now (client went away); the events then end and settle. */
	abort(): void;
}

/** What a request holds from the registry of requests in flight (a no-op one without registry). */
interface Lifetime {
	/** Aborts when the server stops the request (graceful shutdown). */
	signal: AbortSignal;
	end(): void;
}

const UNREGISTERED: Lifetime = { signal: new AbortController().signal, end() {} };

/** Output budget when the client does not say; bounded by the model's own maximum. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;
/** Tokenizers differ between providers; reserving a margin keeps the cap from being overrun. */
const PROMPT_ESTIMATE_MARGIN = 1.2;
const RETRY_DELAY_MS = 200;

/** The model of a request and its worst case, reserved against the limits before the call. */
export interface ChatEstimate {
	model: CatalogModel;
	maxOutputTokens: number;
	promptTokens: number;
	reserveMicros: number;
	reserveTokens: number;
}

/**
 * Checks the model and the request's size and estimates its worst case: the prompt counted with
 * a tokenizer (plus a margin), the output budget, and their cost. Throws a 400 for an unknown
 * model or a conversation too long for the model's window.
 */
export async function estimateChat(
	request: Pick<ChatRequest, 'modelId' | 'messages' | 'maxOutputTokens'>
): Promise<ChatEstimate> {
	const model = getModel(request.modelId);
	if (!model) {
		throw badRequest(`Unknown model "${request.modelId.slice(0, 100)}". Pick one from the model list.`, {
			reason: 'model_not_found'
		});
	}
	const maxOutputTokens = Math.min(request.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS, model.maxOutputTokens);
	await loadTokenizer();
	const promptTokens = countPromptTokens(request.messages);
	if (promptTokens + maxOutputTokens > model.contextWindow) {
		throw badRequest(
			`This conversation is too long for ${model.displayName}: about ${promptTokens} tokens plus ${maxOutputTokens} for the answer, over its ${model.contextWindow}-token window. Start a new chat or shorten it.`,
			{ reason: 'context_length_exceeded' }
		);
	}
	// The worst case, reserved against the daily cap (money) and the tokens-per-hour limit (tokens).
	const promptReserveTokens = Math.ceil(promptTokens * PROMPT_ESTIMATE_MARGIN) + 16;
	return {
		model,
		maxOutputTokens,
		promptTokens,
		reserveMicros: worstCaseCostMicros(model, promptReserveTokens, maxOutputTokens),
		reserveTokens: promptReserveTokens + maxOutputTokens
	};
}

/** The admission of a request's attempt `index` but its user (its id is the request's, numbered). */
function admitRequestOf(
	requestId: string,
	estimate: ChatEstimate,
	keySource: KeySource,
	index: number
): Omit<AdmitRequest, 'userId'> {
	return {
		provider: estimate.model.provider,
		keySource,
		reserveMicros: estimate.reserveMicros,
		reserveTokens: estimate.reserveTokens,
		requestId: `${requestId}:${index}`
	};
}

/**
 * What a caller needs to admit a request for the user's own key inside its own statement, before
 * the user and their keys are known (`limits.admitCall` with the user as a column): the first
 * attempt's admission, and the providers whose usable key makes the user's own key the first
 * attempt (it is exactly then that the caller admits). The caller passes the row it got on as
 * `ownKeyAdmitted`.
 */
export function ownKeyAdmission(deps: Pick<ChatDeps, 'config'>, requestId: string, estimate: ChatEstimate) {
	return {
		limits: deps.config.limitDefaults,
		providers: ownKeyProviders(estimate.model),
		request: admitRequestOf(requestId, estimate, 'user', 0)
	};
}

/**
 * Gives up a request that may have been admitted for the user's own key by the statement that read
 * the keys (`ownKeyAdmission`), e.g. when that statement's answer was lost with the database
 * connection: once the database answers, the reservation made under the first attempt's id, if
 * there is one, is released, and the request gets its usage record (its user is the reservation's,
 * or the one the caller knows; the API does not know it before the token check answered), so no
 * admitted request stays open or goes unrecorded.
 */
export async function abandonOwnKeyAdmission(
	deps: ChatDeps,
	request: Pick<ChatRequest, 'requestId' | 'api'> & { userId?: string },
	estimate: ChatEstimate,
	errorCode: string
): Promise<void> {
	const started = Date.now();
	const admissionId = `${request.requestId}:0`;
	// No attempt was made: recorded as the user's own key of the provider it would have gone to.
	const attempt = {
		keySource: 'user' as const,
		servedBy: ownKeyProviders(estimate.model)[0] ?? estimate.model.provider
	};
	await deps.usageWriter
		.defer({
			description: `release ${admissionId} (${errorCode})`,
			requestId: admissionId,
			run: async () => {
				const reservation = await releaseRequest(deps.db, admissionId);
				const userId = reservation?.userId ?? request.userId;
				if (!userId) return;
				const base = {
					request: { requestId: request.requestId, api: request.api, userId },
					model: estimate.model,
					promptTokens: estimate.promptTokens,
					started
				};
				await writeUsage(deps, base, attempt, { success: false, errorCode, fallbackReason: null });
			}
		})
		.catch((error: unknown) => deps.log.error({ err: error }, 'giving up an admission failed'));
}

export async function startChat(deps: ChatDeps, request: ChatRequest): Promise<ChatSession> {
	const estimate = request.estimate ?? (await estimateChat(request));
	// A request already admitted goes on into routing, whose stopped lifetime releases it and
	// records it; any other is refused here.
	if (deps.activeChats?.isStopping && !request.ownKeyAdmitted) throw serverRestarting(false);
	const lifetime = deps.activeChats?.begin(request.requestId) ?? UNREGISTERED;
	try {
		return await routeChat(deps, request, { ...estimate, lifetime });
	} catch (error) {
		lifetime.end();
		throw error;
	}
}

interface RouteInput extends ChatEstimate {
	lifetime: Lifetime;
}

async function routeChat(deps: ChatDeps, request: ChatRequest, input: RouteInput): Promise<ChatSession> {
	const { model, maxOutputTokens, promptTokens, lifetime } = input;
	// One statement (or none: the API fetched them with the token): the user's keys with their
	// sealed form, so the chosen one opens without another query, the fallback preferences, and the
	// admission for the user's own key when the plan will start with it.
	const { facts, ownKeyAdmitted } = request.facts
		? { facts: request.facts, ownKeyAdmitted: request.ownKeyAdmitted }
		: await routingFactsOf(deps.db, request.userId, ownKeyAdmission(deps, request.requestId, input)).catch(
				async (error: unknown) => {
					if (isDatabaseUnavailable(error)) await abandonOwnKeyAdmission(deps, request, input, 'database_unavailable');
					throw error;
				}
			);
	// Only the model's provider and OpenRouter can serve it.
	const keys = facts.keys.filter((k) => k.provider === model.provider || k.provider === 'openrouter');
	const allowFallback = !facts.fallbackOff.has(model.provider);
	const keysByProvider = new Map<ProviderId, RoutableKey>(keys.map((k) => [k.provider, k]));
	const userKeys = new Map<ProviderId, UserKeyState>(
		keys.map((k) => [k.provider, { keyId: k.id, provider: k.provider, status: k.status }])
	);
	const plan = planRoute({ model, userKeys, allowFallback, appKeyConfigured: Boolean(deps.config.appOpenRouterKey) });
	if (ownKeyAdmitted && plan.attempts[0]?.keySource !== 'user') {
		// The caller admitted for the user's own key by the rule of `ownKeyProviders`, which the
		// plan contradicts: our bug. Give the admission back and fail the request.
		await abandonOwnKeyAdmission(deps, request, input, 'internal');
		throw new Error('the admission made with the keys does not match the plan');
	}
	if (plan.attempts.length === 0)
		throw noUsableKey(model, plan.skipped, allowFallback, Boolean(deps.config.appOpenRouterKey));

	const started = Date.now();
	const base = { request, model, promptTokens, started };
	let lastError: AppError | undefined;
	let previousFailure: { attempt: RouteAttempt; error: ProviderError } | undefined;
	let previousRefusal: AppError | undefined;

	for (const [index, attempt] of plan.attempts.entries()) {
		let admission: Admission;
		const admitRequest = {
			userId: request.userId,
			...admitRequestOf(request.requestId, input, attempt.keySource, index)
		};
		try {
			admission =
				index === 0 && ownKeyAdmitted
					? await admissionOf(deps.db, deps.config.limitDefaults, admitRequest, ownKeyAdmitted)
					: await admit(deps.db, deps.config.limitDefaults, admitRequest);
		} catch (error) {
			if (isDatabaseUnavailable(error)) {
				await reconcileLostAdmission(deps, base, attempt, admitRequest);
				throw error;
			}
			if (isAppError(error) && isLimitRefusal(error)) {
				deps.hooks?.refused?.({
					provider: model.provider,
					keySource: attempt.keySource,
					code: error.reason ?? error.code
				});
				lastError = error;
				previousRefusal = error;
				previousFailure = undefined;
				continue;
			}
			throw error;
		}

		const fallback = describeFallback(model, plan.skipped, index, attempt, previousFailure, previousRefusal);
		for (let tryNumber = 1; tryNumber <= 2; tryNumber++) {
			const upstream = new AbortController();
			const detach = linkAborts(upstream, request.signal, lifetime.signal);
			try {
				const opened = await openStream(deps, attempt, keysByProvider, request, maxOutputTokens, upstream.signal);
				if (fallback) deps.hooks?.fellBack?.({ provider: model.provider, reason: fallback.reason });
				return {
					requestId: request.requestId,
					model,
					keySource: attempt.keySource,
					servedBy: attempt.servedBy,
					fallback,
					abort: () => upstream.abort(),
					events: streamEvents(
						deps,
						{
							...base,
							attempt,
							admission,
							fallback,
							upstream,
							detach,
							lifetime,
							keyToMarkUsed: keyToMarkUsed(attempt, keysByProvider)
						},
						opened
					)
				};
			} catch (thrown) {
				detach();
				if (!(thrown instanceof ProviderError) && isDatabaseUnavailable(thrown)) {
					// Reading the sealed key failed, not the provider: a 503, and the request is still accounted for.
					await releaseDurably(deps, admission);
					await writeUsage(deps, base, attempt, {
						success: false,
						errorCode: 'database_unavailable',
						fallbackReason: fallback?.reason ?? null
					});
					throw thrown;
				}
				const error =
					thrown instanceof ProviderError
						? thrown
						: classifyProviderFailure(attempt.servedBy, thrown, { afterFirstToken: false });
				deps.hooks?.attemptFailed?.({
					provider: attempt.servedBy,
					keySource: attempt.keySource,
					failure: error.failure,
					afterFirstToken: false
				});
				if (error.failure === 'aborted' || request.signal.aborted || lifetime.signal.aborted) {
					const shutdown = lifetime.signal.aborted && !request.signal.aborted;
					await releaseDurably(deps, admission);
					await writeUsage(deps, base, attempt, {
						success: false,
						errorCode: shutdown ? SERVER_SHUTDOWN : 'client_aborted',
						fallbackReason: fallback?.reason ?? null
					});
					if (shutdown) throw serverRestarting(false);
					throw new AppError('bad_request', 'The request was cancelled.', { reason: 'client_aborted' });
				}
				if (invalidatesKeyFailure(error.failure) && attempt.key.kind === 'user') {
					// Best effort: a database blip must not lose this request's accounting below.
					await markKeyInvalid(deps.db, attempt.key.keyId, error.providerCode ?? error.failure).catch(
						(markError: unknown) =>
							deps.log.warn(
								{ err: markError, keyId: attempt.key.kind === 'user' ? attempt.key.keyId : null },
								'marking a key invalid failed'
							)
					);
				}
				if (isRetryableFailure(error.failure) && tryNumber === 1) {
					await delay(Math.min((error.retryAfterSeconds ?? 0) * 1000, 1000) || RETRY_DELAY_MS);
					continue;
				}
				await releaseDurably(deps, admission);
				if (error.failure === 'bad_request' || error.failure === 'not_found') {
					// The request itself is wrong; another key would fail the same way.
					await writeUsage(deps, base, attempt, {
						success: false,
						errorCode: `upstream_${error.failure}`,
						fallbackReason: fallback?.reason ?? null
					});
					throw new AppError('bad_request', error.message, { reason: `upstream_${error.failure}` });
				}
				lastError = upstreamError(error);
				previousFailure = { attempt, error };
				previousRefusal = undefined;
				break;
			}
		}
	}

	const last = plan.attempts[plan.attempts.length - 1]!;
	const finalError =
		lastError ?? new AppError('upstream_error', 'No provider could answer.', { reason: 'upstream_error' });
	await writeUsage(deps, base, last, {
		success: false,
		errorCode: finalError.reason ?? finalError.code,
		fallbackReason: plan.attempts.length > 1 ? 'all_failed' : null
	});
	throw finalError;
}

/**
 * The limits refused this key source; the next one in the plan may still serve the request (its
 * limits are its own). A worst case above a whole tokens-per-hour limit is a 400, but another key
 * source's limit may be larger.
 */
const isLimitRefusal = (error: AppError) =>
	error.code === 'rate_limited' ||
	error.code === 'spend_cap_reached' ||
	error.reason === 'request_exceeds_tokens_per_hour';

interface OpenedStream {
	first: IteratorResult<ProviderEvent>;
	iterator: AsyncIterator<ProviderEvent>;
}

/**
 * Opens the key, starts the call and waits for its first event: a failure up to here happened
 * before the first token, so the caller may retry or fall back. The unsealed key bytes are zeroed
 * as soon as the SDK client holds its copy (a JS string, which cannot be wiped: docs/security.md).
 */
async function openStream(
	deps: ChatDeps,
	attempt: RouteAttempt,
	keysByProvider: ReadonlyMap<ProviderId, RoutableKey>,
	request: ChatRequest,
	maxOutputTokens: number,
	signal: AbortSignal
): Promise<OpenedStream> {
	const adapter = getAdapter(attempt.servedBy);
	const start = async (apiKey: string): Promise<OpenedStream> => {
		const iterator = adapter
			.chat(
				{
					apiKey,
					model: attempt.upstreamModel,
					messages: request.messages,
					maxOutputTokens,
					temperature: request.temperature,
					stream: request.stream,
					signal,
					timeoutMs: deps.config.providerTimeoutMs
				},
				deps.config.baseUrls[attempt.servedBy]
			)
			[Symbol.asyncIterator]();
		return { iterator, first: await iterator.next() };
	};
	if (attempt.key.kind === 'app') {
		const appKey = deps.config.appOpenRouterKey;
		if (!appKey) throw new ProviderError({ provider: 'openrouter', failure: 'auth', afterFirstToken: false });
		return start(appKey);
	}
	const key = keysByProvider.get(attempt.key.provider);
	if (!key) throw new ProviderError({ provider: attempt.servedBy, failure: 'auth', afterFirstToken: false });
	return withRoutableKey(deps.keyring, request.userId, key, start);
}

interface StreamContext {
	request: ChatRequest;
	model: CatalogModel;
	promptTokens: number;
	started: number;
	attempt: RouteAttempt;
	admission: Admission;
	fallback: ChatSession['fallback'];
	upstream: AbortController;
	/** Unhooks the upstream call from the client's and the server's abort signals. */
	detach: () => void;
	lifetime: Lifetime;
	/** The user's key that served the request, when its `last_used_at` is due for a write. */
	keyToMarkUsed: string | null;
}

/** A user key's last use is written at most once a minute; the routing query says when it is due. */
function keyToMarkUsed(attempt: RouteAttempt, keysByProvider: ReadonlyMap<ProviderId, RoutableKey>): string | null {
	const { key } = attempt;
	return key.kind === 'user' && keysByProvider.get(key.provider)?.useStale === true ? key.keyId : null;
}

async function* streamEvents(
	deps: ChatDeps,
	ctx: StreamContext,
	opened: OpenedStream
): AsyncGenerator<SessionEvent, void, undefined> {
	let text = '';
	let reported: { promptTokens: number; completionTokens: number; costMicros?: number } | undefined;
	let finishReason: FinishReason = 'other';
	let firstTokenAt: number | undefined;
	let outcome: 'ok' | 'failed' | 'aborted' = 'aborted';
	let failure: AppError | undefined;
	let usage: FinalUsage | undefined;
	let bookkeeping: Promise<void> | undefined;
	deps.hooks?.streamOpened?.();
	try {
		for (let next = opened.first; !next.done; next = await opened.iterator.next()) {
			const event = next.value;
			if (event.type === 'delta') {
				if (event.text.length === 0) continue;
				firstTokenAt ??= Date.now();
				text += event.text;
				yield { type: 'delta', text: event.text };
			} else if (event.type === 'usage') {
				reported = event;
			} else {
				finishReason = event.reason;
			}
		}
		outcome = 'ok';
	} catch (thrown) {
		const error =
			thrown instanceof ProviderError
				? thrown
				: classifyProviderFailure(ctx.attempt.servedBy, thrown, { afterFirstToken: text.length > 0 });
		if (ctx.lifetime.signal.aborted && !ctx.request.signal.aborted) {
			// Graceful shutdown stopped it: the client still listens and is told why it ended.
			outcome = 'failed';
			failure = serverRestarting(text.length > 0);
		} else if (error.failure === 'aborted' || ctx.request.signal.aborted) {
			outcome = 'aborted';
		} else {
			outcome = 'failed';
			deps.hooks?.attemptFailed?.({
				provider: ctx.attempt.servedBy,
				keySource: ctx.attempt.keySource,
				failure: error.failure,
				afterFirstToken: true
			});
			failure = midStreamError(error, text.length > 0);
		}
	} finally {
		ctx.detach();
		if (outcome !== 'ok') ctx.upstream.abort();
		usage = finalUsage(ctx.model, reported, ctx.promptTokens, text);
		// Settling and recording happen even when the consumer stopped iterating (client gone). They
		// run while the last event goes out, not before it: the client does not wait for them.
		// `ctx.lifetime` stays open until they finish, so a graceful shutdown waits for them.
		bookkeeping = recordOutcome(deps, ctx, {
			outcome,
			failure,
			usage,
			ttftMs: firstTokenAt === undefined ? null : firstTokenAt - ctx.started
		});
		if (outcome === 'aborted') await bookkeeping;
	}
	if (outcome === 'ok') yield { type: 'done', finishReason, usage };
	else if (outcome === 'failed' && failure) yield { type: 'error', error: failure, usage };
	// A consumer that keeps iterating after the last event (tests, non-stream responses) sees the
	// bookkeeping finished when the iteration ends.
	await bookkeeping;
	// 'aborted': nobody is listening any more.
}

/** Settles the reservation, writes the usage record, marks the key used when due; never throws. */
async function recordOutcome(
	deps: ChatDeps,
	ctx: StreamContext,
	result: {
		outcome: 'ok' | 'failed' | 'aborted';
		failure: AppError | undefined;
		usage: FinalUsage;
		ttftMs: number | null;
	}
): Promise<void> {
	try {
		await settleQuietly(deps, ctx.admission, result.usage);
		await writeUsage(deps, ctx, ctx.attempt, {
			success: result.outcome === 'ok',
			errorCode:
				result.outcome === 'aborted'
					? 'client_aborted'
					: result.outcome === 'failed'
						? (result.failure?.reason ?? 'upstream_error')
						: null,
			fallbackReason: ctx.fallback?.reason ?? null,
			usage: result.usage,
			ttftMs: result.ttftMs
		});
		const keyId = ctx.keyToMarkUsed;
		if (keyId) {
			await markKeyUsed(deps.db, keyId).catch((error: unknown) =>
				deps.log.warn({ err: error, keyId }, "recording a key's last use failed")
			);
		}
	} finally {
		deps.hooks?.streamClosed?.();
		ctx.lifetime.end();
	}
}

/**
 * Provider-reported usage wins (OpenRouter's own cost when it sent one); otherwise tokens are
 * counted with our tokenizer and the record is flagged as estimated. Costs round up.
 */
export function finalUsage(
	model: CatalogModel,
	reported: { promptTokens: number; completionTokens: number; costMicros?: number } | undefined,
	promptEstimate: number,
	text: string
): FinalUsage {
	if (reported) {
		return {
			promptTokens: reported.promptTokens,
			completionTokens: reported.completionTokens,
			costMicros: reported.costMicros ?? costMicros(model, reported.promptTokens, reported.completionTokens),
			estimated: false
		};
	}
	const completionTokens = countTextTokens(text);
	return {
		promptTokens: promptEstimate,
		completionTokens,
		costMicros: costMicros(model, promptEstimate, completionTokens),
		estimated: true
	};
}

async function settleQuietly(deps: ChatDeps, admission: Admission, usage: FinalUsage): Promise<void> {
	try {
		// Settling twice changes nothing, so a settle lost in a database outage is simply retried.
		await deps.usageWriter.defer({
			description: `settle ${admission.requestId}`,
			requestId: admission.requestId,
			run: () =>
				settle(deps.db, admission, {
					costMicros: usage.costMicros,
					totalTokens: usage.promptTokens + usage.completionTokens
				})
		});
	} catch (error) {
		// The reservation stays open and is reclaimed later; the usage record still carries the cost.
		deps.log.error({ err: error, reservationId: admission.reservationId }, 'settling a reservation failed');
	}
}

/** Returns an admission's reservation, retried through a database outage (releasing is idempotent). */
async function releaseDurably(deps: ChatDeps, admission: Admission): Promise<void> {
	await deps.usageWriter.defer({
		description: `release ${admission.requestId}`,
		requestId: admission.requestId,
		run: () => release(deps.db, admission)
	});
}

/**
 * `admit` failed because the database went away: the reservation may have been committed with
 * only the answer lost. Once the database is back, admitting the same request id again returns
 * that reservation (or makes one), which is then released, so none stays open; the request gets
 * its usage record either way. Worst case it counts once against the hourly request limit, like a
 * request refused by the spending cap.
 */
async function reconcileLostAdmission(
	deps: ChatDeps,
	base: UsageBase,
	attempt: RouteAttempt,
	admitRequest: AdmitRequest
): Promise<void> {
	const reconcile = async () => {
		let admission: Admission;
		try {
			admission = await admit(deps.db, deps.config.limitDefaults, admitRequest);
		} catch (error) {
			// Refused now: nothing is reserved under this id.
			if (isAppError(error)) return;
			throw error;
		}
		await release(deps.db, admission);
	};
	await deps.usageWriter
		.defer({
			description: `release ${admitRequest.requestId} (admission answer lost)`,
			requestId: admitRequest.requestId,
			run: reconcile
		})
		.catch((error: unknown) => deps.log.error({ err: error }, 'reconciling a lost admission failed'));
	await writeUsage(deps, base, attempt, { success: false, errorCode: 'database_unavailable', fallbackReason: null });
}

/** Aborts `upstream` when the client goes away or the server stops the request; returns the unhook. */
function linkAborts(upstream: AbortController, client: AbortSignal, server: AbortSignal): () => void {
	const onClient = () => upstream.abort();
	const onServer = () => upstream.abort(SERVER_SHUTDOWN);
	if (server.aborted) onServer();
	else if (client.aborted) onClient();
	client.addEventListener('abort', onClient, { once: true });
	server.addEventListener('abort', onServer, { once: true });
	return () => {
		client.removeEventListener('abort', onClient);
		server.removeEventListener('abort', onServer);
	};
}

/** The server is shutting down (graceful shutdown stopped this request, or it arrived too late). */
function serverRestarting(partial: boolean): AppError {
	return new AppError(
		'unavailable',
		partial
			? 'The server is restarting, so the answer was cut short; the part above is incomplete. Try again in a moment.'
			: 'The server is restarting. Try again in a moment.',
		{ reason: SERVER_SHUTDOWN, retryAfterSeconds: 2, details: { partial } }
	);
}

type UsageBase = {
	request: Pick<ChatRequest, 'requestId' | 'userId' | 'api'>;
	model: CatalogModel;
	promptTokens: number;
	started: number;
};

async function writeUsage(
	deps: ChatDeps,
	base: UsageBase,
	attempt: Pick<RouteAttempt, 'keySource' | 'servedBy'>,
	outcome: {
		success: boolean;
		errorCode: string | null;
		fallbackReason: string | null;
		usage?: FinalUsage;
		ttftMs?: number | null;
	}
): Promise<void> {
	const usage = outcome.usage ?? { promptTokens: 0, completionTokens: 0, costMicros: 0, estimated: false };
	const record: UsageRecord = {
		requestId: base.request.requestId,
		userId: base.request.userId,
		provider: base.model.provider,
		model: base.model.id,
		keySource: attempt.keySource,
		servedBy: attempt.servedBy,
		api: base.request.api,
		success: outcome.success,
		errorCode: outcome.errorCode,
		fallbackReason: outcome.fallbackReason,
		promptTokens: usage.promptTokens,
		completionTokens: usage.completionTokens,
		costMicros: usage.costMicros,
		estimated: usage.estimated,
		latencyMs: Date.now() - base.started,
		ttftMs: outcome.ttftMs ?? null
	};
	try {
		await deps.usageWriter.write(record);
	} catch (error) {
		deps.log.error({ err: error, requestId: record.requestId }, 'writing a usage record failed');
	}
	// The request logger already carries the request id.
	deps.log.info(
		{
			provider: record.provider,
			model: record.model,
			keySource: record.keySource,
			servedBy: record.servedBy,
			success: record.success,
			errorCode: record.errorCode,
			fallbackReason: record.fallbackReason,
			promptTokens: record.promptTokens,
			completionTokens: record.completionTokens,
			costMicros: record.costMicros,
			latencyMs: record.latencyMs,
			ttftMs: record.ttftMs
		},
		'chat finished'
	);
	deps.hooks?.completed?.(record);
}

function describeFallback(
	model: CatalogModel,
	skipped: 'no_key' | 'key_invalid' | null,
	index: number,
	attempt: RouteAttempt,
	previousFailure: { attempt: RouteAttempt; error: ProviderError } | undefined,
	previousRefusal: AppError | undefined
): ChatSession['fallback'] {
	if (previousFailure) {
		return {
			reason: fallbackReasonOf(previousFailure.error),
			message: fallbackMessage(previousFailure.attempt, previousFailure.error, attempt)
		};
	}
	if (previousRefusal)
		return { reason: 'own_limit_reached', message: ownLimitMessage(previousRefusal.message, attempt) };
	// The user's own key for this provider was not usable to begin with.
	if (index === 0 && skipped && (model.provider !== 'openrouter' || attempt.keySource === 'app')) {
		return { reason: skipped, message: skippedMessage(skipped, model.provider, attempt) };
	}
	return null;
}

function noUsableKey(
	model: CatalogModel,
	skipped: 'no_key' | 'key_invalid' | null,
	allowFallback: boolean,
	appKeyConfigured: boolean
): AppError {
	const name = PROVIDER_LABELS[model.provider];
	const missing = skipped === 'key_invalid' ? `Your ${name} key is marked invalid` : `You have no ${name} key`;
	const why = !appKeyConfigured
		? 'and this server has no app key to fall back to. Add your key on the API keys page.'
		: !allowFallback
			? `and fallback to the app key is off for ${name}. Add a key on the API keys page, or turn fallback on.`
			: `and ${model.displayName} is not available through the app key. Add your key on the API keys page.`;
	return new AppError('bad_request', `${missing}, ${why}`, {
		reason: 'no_key',
		details: { provider: model.provider, model: model.id }
	});
}

function upstreamError(error: ProviderError): AppError {
	const retryAfterSeconds = error.retryAfterSeconds;
	return new AppError(
		error.failure === 'timeout' || error.failure === 'overloaded' ? 'unavailable' : 'upstream_error',
		error.message,
		{
			reason: `upstream_${error.failure}`,
			...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
			details: { provider: error.provider, status: error.status ?? null }
		}
	);
}

function midStreamError(error: ProviderError, partial: boolean): AppError {
	const name = PROVIDER_LABELS[error.provider];
	return new AppError(
		'upstream_error',
		`${name} stopped in the middle of the answer (${error.failure.replace('_', ' ')})${partial ? '; the part above is incomplete' : ''}. Try again.`,
		{
			reason: `upstream_${error.failure}`,
			details: { provider: error.provider, partial }
		}
	);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
