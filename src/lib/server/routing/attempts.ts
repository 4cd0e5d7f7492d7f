import { isDatabaseUnavailable } from '$lib/server/db';
import { AppError, isAppError } from '$lib/server/errors';
import { markKeyInvalid, type RoutableKey } from '$lib/server/keys';
import type { Admission } from '$lib/server/limits';
import {
	classifyProviderFailure,
	invalidatesKeyFailure,
	isRetryableFailure,
	ProviderError
} from '$lib/server/providers';
import { clientAborted, isLimitRefusal, noUsableKey, serverRestarting, upstreamError } from './errors';
import type { ChatEstimate } from './estimate';
import type { Ledger, Outcome } from './ledger';
import { SERVER_SHUTDOWN } from './active';
import { describeFallback, type Fallback } from './messages';
import { keyIdOf, ownKeysOf, planRoute, type RouteAttempt } from './plan';
import type { PreparedChat } from './prepare';
import type { ChatDeps, ChatRequest } from './types';
import { linkAbort, openStream, type OpenedStream } from './upstream';

const RETRY_DELAY_MS = 200;

/** The attempt that answered: its admission, why it was not the first choice, its open stream. */
export interface OpenedRoute {
	attempt: RouteAttempt;
	admission: Admission;
	fallback: Fallback | null;
	/** Aborts this attempt's provider call. */
	upstream: AbortController;
	/** Unhooks `upstream` from the request's stop signal. */
	detach: () => void;
	opened: OpenedStream;
	/** The user's key that served it, when its `last_used_at` is due for a write. */
	keyToMarkUsed: string | null;
}

/** Why the request stopped on its own side: the client left or the server is shutting down. */
export interface Stops {
	/** Aborts when the client goes away or the server stops the request. */
	signal: AbortSignal;
	/** True when the server (graceful shutdown), not the client, stopped it. */
	byServer(): boolean;
}

/**
 * Plans the key sources and tries them in order until one opens a stream: each admitted against
 * its own limits, retried once on a transient failure, given back when it fails before the first
 * token. Every way out but success leaves the outcome in the ledger.
 */
export async function openRoute(
	deps: ChatDeps,
	request: ChatRequest,
	estimate: ChatEstimate,
	prepared: PreparedChat,
	ledger: Ledger,
	stops: Stops
): Promise<OpenedRoute> {
	const { model } = estimate;
	const { facts, owner } = prepared;
	// Only the model's provider and OpenRouter can serve it.
	const keys = facts.keys.filter((k) => k.provider === model.provider || k.provider === 'openrouter');
	const keysById = new Map<string, RoutableKey>(keys.map((k) => [k.id, k]));
	const userKeys = ownKeysOf(keys);
	const allowFallback = !facts.fallbackOff.has(model.provider);
	const appKeyConfigured = Boolean(deps.config.appOpenRouterKey);
	const plan = planRoute({ model, userKeys, allowFallback, appKeyConfigured });
	if (prepared.admitted && plan.attempts[0]?.keySource !== 'user') {
		// The first statement admitted by `ownKeyProviders`, which planRoute shares: our bug.
		throw new Error('the admission made with the keys does not match the plan');
	}
	if (plan.attempts.length === 0) throw noUsableKey(model, plan.skipped, allowFallback, appKeyConfigured);

	let previous: Parameters<typeof describeFallback>[4] = null;
	let lastError: AppError | undefined;
	for (const [index, attempt] of plan.attempts.entries()) {
		// Gone while the previous attempt failed: the next one is not admitted at all. (The first may
		// hold the first statement's admission, which the ledger must see: it stops at its call.)
		if (index > 0 && stops.signal.aborted) throw stopped(ledger, attempt, null, stops);
		let admission: Admission;
		try {
			admission = await ledger.admit(index, attempt, index === 0 ? prepared.admitted : null);
		} catch (error) {
			if (isDatabaseUnavailable(error)) {
				ledger.finish(failed(attempt, 'database_unavailable', null));
				throw error;
			}
			if (!isAppError(error) || !isLimitRefusal(error)) throw error;
			deps.hooks?.refused?.({
				provider: model.provider,
				keySource: attempt.keySource,
				code: error.reason ?? error.code
			});
			lastError = error;
			previous = { refusal: error };
			continue;
		}
		const fallback = describeFallback(model, plan.skipped, index, attempt, previous);
		const fallbackReason = fallback?.reason ?? null;
		for (let tryNumber = 1; tryNumber <= 2; tryNumber++) {
			const upstream = new AbortController();
			const detach = linkAbort(upstream, stops.signal);
			try {
				const opened = await openStream(deps, attempt, keysById, {
					userId: owner.userId,
					messages: request.messages,
					maxOutputTokens: estimate.maxOutputTokens,
					options: request.options,
					stream: request.stream,
					signal: upstream.signal
				});
				if (fallback) deps.hooks?.fellBack?.({ provider: model.provider, reason: fallback.reason });
				const key = attempt.key.kind === 'user' ? keysById.get(attempt.key.keyId) : undefined;
				const keyToMarkUsed = key?.useStale ? key.id : null;
				return { attempt, admission, fallback, upstream, detach, opened, keyToMarkUsed };
			} catch (thrown) {
				detach();
				if (!(thrown instanceof ProviderError) && isDatabaseUnavailable(thrown)) {
					// Reading the sealed key failed, not the provider: a 503.
					await ledger.release(admission);
					ledger.finish(failed(attempt, 'database_unavailable', fallbackReason));
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
				if (error.failure === 'aborted' || stops.signal.aborted) {
					await ledger.release(admission);
					throw stopped(ledger, attempt, fallbackReason, stops);
				}
				if (invalidatesKeyFailure(error.failure) && attempt.key.kind === 'user') {
					const keyId = attempt.key.keyId;
					// Best effort: a database blip must not lose this request's accounting.
					await markKeyInvalid(deps.db, keyId, error.providerCode ?? error.failure).catch((markError: unknown) =>
						deps.log.warn({ err: markError, keyId }, 'marking a key invalid failed')
					);
				}
				if (isRetryableFailure(error.failure) && tryNumber === 1) {
					await delay(Math.min((error.retryAfterSeconds ?? 0) * 1000, 1000) || RETRY_DELAY_MS, stops.signal);
					continue;
				}
				await ledger.release(admission);
				if (error.failure === 'bad_request' || error.failure === 'not_found') {
					// The request itself is wrong; another key would fail the same way.
					ledger.finish(failed(attempt, `upstream_${error.failure}`, fallbackReason));
					throw new AppError('bad_request', error.message, { reason: `upstream_${error.failure}` });
				}
				lastError = upstreamError(error, attempt.keySource);
				previous = { failure: { attempt, error } };
				break;
			}
		}
	}
	const finalError =
		lastError ?? new AppError('upstream_error', 'No provider could answer.', { reason: 'upstream_error' });
	const last = plan.attempts[plan.attempts.length - 1]!;
	ledger.finish(failed(last, finalError.reason ?? finalError.code, plan.attempts.length > 1 ? 'all_failed' : null));
	throw finalError;
}

const failed = (attempt: RouteAttempt, errorCode: string, fallbackReason: string | null): Outcome => ({
	keySource: attempt.keySource,
	servedBy: attempt.servedBy,
	keyId: keyIdOf(attempt),
	success: false,
	errorCode,
	fallbackReason
});

/** The client left or the server is stopping: recorded as such, answered as such. */
function stopped(ledger: Ledger, attempt: RouteAttempt, fallbackReason: string | null, stops: Stops): AppError {
	const shutdown = stops.byServer();
	ledger.finish(failed(attempt, shutdown ? SERVER_SHUTDOWN : 'client_aborted', fallbackReason));
	return shutdown ? serverRestarting(false) : clientAborted();
}

/** Waits `ms`, or less when `signal` aborts (the next try then sees it aborted). */
const delay = (ms: number, signal: AbortSignal) =>
	new Promise<void>((resolve) => {
		const timer = setTimeout(done, ms);
		function done() {
			clearTimeout(timer);
			signal.removeEventListener('abort', done);
			resolve();
		}
		signal.addEventListener('abort', done, { once: true });
	});
