import type { Kysely } from 'kysely';
import type { Config } from '$lib/server/config';
import type { Database, KeySource } from '$lib/server/db';
import { AppError, badRequest, isAppError } from '$lib/server/errors';
import type { Logger } from '$lib/server/log';
import {
	countPromptTokens,
	countTextTokens,
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
import { admit, release, settle, type Admission } from '$lib/server/limits';
import { activeKeysOf, markKeyInvalid, markKeyUsed, withOpenedKey } from '$lib/server/keys';
import type { Keyring } from '$lib/server/vault';
import type { UsageRecord, UsageWriter } from '$lib/server/usage';
import { planRoute, type RouteAttempt, type UserKeyState } from './plan';
import { isFallbackAllowed } from './preferences';
import { fallbackMessage, fallbackReasonOf, ownLimitMessage, skippedMessage, type FallbackReason } from './messages';

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

/** Output budget when the client does not say; bounded by the model's own maximum. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;
/** Tokenizers differ between providers; reserving a margin keeps the cap from being overrun. */
const PROMPT_ESTIMATE_MARGIN = 1.2;
const RETRY_DELAY_MS = 200;

export async function startChat(deps: ChatDeps, request: ChatRequest): Promise<ChatSession> {
	const model = getModel(request.modelId);
	if (!model) {
		throw badRequest(`Unknown model "${request.modelId.slice(0, 100)}". Pick one from the model list.`, {
			reason: 'model_not_found'
		});
	}
	const maxOutputTokens = Math.min(request.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS, model.maxOutputTokens);
	const promptTokens = countPromptTokens(request.messages);
	if (promptTokens + maxOutputTokens > model.contextWindow) {
		throw badRequest(
			`This conversation is too long for ${model.displayName}: about ${promptTokens} tokens plus ${maxOutputTokens} for the answer, over its ${model.contextWindow}-token window. Start a new chat or shorten it.`,
			{ reason: 'context_length_exceeded' }
		);
	}
	const reserveMicros = worstCaseCostMicros(
		model,
		Math.ceil(promptTokens * PROMPT_ESTIMATE_MARGIN) + 16,
		maxOutputTokens
	);

	const [keys, allowFallback] = await Promise.all([
		activeKeysOf(deps.db, request.userId),
		isFallbackAllowed(deps.db, request.userId, model.provider)
	]);
	const userKeys = new Map<ProviderId, UserKeyState>(
		keys.map((k) => [k.provider, { keyId: k.id, provider: k.provider, status: k.status }])
	);
	const plan = planRoute({ model, userKeys, allowFallback, appKeyConfigured: Boolean(deps.config.appOpenRouterKey) });
	if (plan.attempts.length === 0)
		throw noUsableKey(model, plan.skipped, allowFallback, Boolean(deps.config.appOpenRouterKey));

	const started = Date.now();
	const base = { request, model, promptTokens, started };
	let lastError: AppError | undefined;
	let previousFailure: { attempt: RouteAttempt; error: ProviderError } | undefined;
	let previousRefusal: AppError | undefined;

	for (const [index, attempt] of plan.attempts.entries()) {
		let admission: Admission;
		try {
			admission = await admit(deps.db, deps.config.limitDefaults, {
				userId: request.userId,
				provider: model.provider,
				keySource: attempt.keySource,
				reserveMicros,
				requestId: `${request.requestId}:${index}`
			});
		} catch (error) {
			if (isAppError(error) && (error.code === 'rate_limited' || error.code === 'spend_cap_reached')) {
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
			const onClientAbort = () => upstream.abort();
			request.signal.addEventListener('abort', onClientAbort, { once: true });
			try {
				const opened = await openStream(deps, attempt, request, maxOutputTokens, upstream.signal);
				if (fallback) deps.hooks?.fellBack?.({ provider: model.provider, reason: fallback.reason });
				return {
					requestId: request.requestId,
					model,
					keySource: attempt.keySource,
					servedBy: attempt.servedBy,
					fallback,
					abort: () => upstream.abort(),
					events: streamEvents(deps, { ...base, attempt, admission, fallback, upstream, onClientAbort }, opened)
				};
			} catch (thrown) {
				request.signal.removeEventListener('abort', onClientAbort);
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
				if (error.failure === 'aborted' || request.signal.aborted) {
					await release(deps.db, admission);
					await writeUsage(deps, base, attempt, {
						success: false,
						errorCode: 'client_aborted',
						fallbackReason: fallback?.reason ?? null
					});
					throw new AppError('bad_request', 'The request was cancelled.', { reason: 'client_aborted' });
				}
				if (invalidatesKeyFailure(error.failure) && attempt.key.kind === 'user') {
					await markKeyInvalid(deps.db, attempt.key.keyId, error.providerCode ?? error.failure);
				}
				if (isRetryableFailure(error.failure) && tryNumber === 1) {
					await delay(Math.min((error.retryAfterSeconds ?? 0) * 1000, 1000) || RETRY_DELAY_MS);
					continue;
				}
				await release(deps.db, admission);
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
	return withOpenedKey(deps.db, deps.keyring, { userId: request.userId, provider: attempt.key.provider }, start);
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
	onClientAbort: () => void;
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
		if (error.failure === 'aborted' || ctx.request.signal.aborted) {
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
		ctx.request.signal.removeEventListener('abort', ctx.onClientAbort);
		if (outcome !== 'ok') ctx.upstream.abort();
		// Settling and recording must happen even when the consumer stopped iterating (client gone).
		usage = finalUsage(ctx.model, reported, ctx.promptTokens, text);
		await settleQuietly(deps, ctx.admission, usage);
		await writeUsage(deps, ctx, ctx.attempt, {
			success: outcome === 'ok',
			errorCode:
				outcome === 'aborted' ? 'client_aborted' : outcome === 'failed' ? (failure?.reason ?? 'upstream_error') : null,
			fallbackReason: ctx.fallback?.reason ?? null,
			usage,
			ttftMs: firstTokenAt === undefined ? null : firstTokenAt - ctx.started
		});
		if (ctx.attempt.key.kind === 'user') await markKeyUsed(deps.db, ctx.attempt.key.keyId).catch(() => {});
		deps.hooks?.streamClosed?.();
	}
	if (outcome === 'ok') yield { type: 'done', finishReason, usage };
	else if (outcome === 'failed' && failure) yield { type: 'error', error: failure, usage };
	// 'aborted': nobody is listening any more.
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
		await settle(deps.db, admission, {
			costMicros: usage.costMicros,
			totalTokens: usage.promptTokens + usage.completionTokens
		});
	} catch (error) {
		// The reservation stays open and is reclaimed later; the usage record still carries the cost.
		deps.log.error({ err: error, requestId: admission.reservationId }, 'settling a reservation failed');
	}
}

async function writeUsage(
	deps: ChatDeps,
	base: { request: ChatRequest; model: CatalogModel; promptTokens: number; started: number },
	attempt: RouteAttempt,
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
