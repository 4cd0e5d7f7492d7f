import type { AppError } from '$lib/server/errors';
import type { CatalogModel } from '$lib/server/catalog';
import { markKeyUsed } from '$lib/server/keys';
import { classifyProviderFailure, ProviderError, type FinishReason } from '$lib/server/providers';
import type { OpenedRoute, Stops } from './attempts';
import { midStreamError, serverRestarting } from './errors';
import type { Ledger } from './ledger';
import { keyIdOf } from './plan';
import type { ChatDeps, FinalUsage, SessionEvent } from './types';
import { finalUsage, type ReportedUsage } from './usage';

/**
 * Relays the provider's events as the session's: deltas, then exactly one `done` or `error`.
 * After the first token a failure ends the answer (two answers are never spliced). The settlement
 * and the usage record start before the last event goes out, so the client does not wait for them.
 */
export async function* relayEvents(
	deps: ChatDeps,
	route: OpenedRoute,
	ledger: Ledger,
	stops: Stops,
	context: { model: CatalogModel; promptTokens: number; started: number }
): AsyncGenerator<SessionEvent, void, undefined> {
	const { attempt, opened } = route;
	/** What the model wrote so far: answer text and tool calls. */
	let text = '';
	let reported: ReportedUsage | undefined;
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
			} else if (event.type === 'tool_call') {
				// A tool call is output like text: it counts for the estimate and as the first token.
				firstTokenAt ??= Date.now();
				text += (event.name ?? '') + event.arguments;
				yield event;
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
				: classifyProviderFailure(attempt.servedBy, thrown, { afterFirstToken: text.length > 0 });
		if (stops.byServer()) {
			// Graceful shutdown stopped it: the client still listens and is told why it ended.
			outcome = 'failed';
			failure = serverRestarting(text.length > 0);
		} else if (error.failure === 'aborted' || stops.signal.aborted) {
			outcome = 'aborted';
		} else {
			outcome = 'failed';
			deps.hooks?.attemptFailed?.({
				provider: attempt.servedBy,
				keySource: attempt.keySource,
				failure: error.failure,
				afterFirstToken: true
			});
			failure = midStreamError(error, text.length > 0);
		}
	} finally {
		route.detach();
		if (outcome !== 'ok') route.upstream.abort();
		const final = finalUsage(context.model, reported, context.promptTokens, text);
		usage = final.usage;
		if (final.implausible) {
			const { provider, id } = context.model;
			deps.log.warn(
				{ provider, model: id, servedBy: attempt.servedBy, reported },
				'impossible usage reported; our estimate recorded'
			);
		}
		const errorCode =
			outcome === 'aborted' ? 'client_aborted' : outcome === 'failed' ? (failure?.reason ?? 'upstream_error') : null;
		ledger.finish({
			keySource: attempt.keySource,
			servedBy: attempt.servedBy,
			keyId: keyIdOf(attempt),
			success: outcome === 'ok',
			errorCode,
			fallbackReason: route.fallback?.reason ?? null,
			usage,
			ttftMs: firstTokenAt === undefined ? null : firstTokenAt - context.started
		});
		void ledger.settle(route.admission, usage);
		const keyId = route.keyToMarkUsed;
		if (keyId) {
			ledger.track(
				markKeyUsed(deps.db, keyId).catch((error: unknown) =>
					deps.log.warn({ err: error, keyId }, "recording a key's last use failed")
				)
			);
		}
		deps.hooks?.streamClosed?.();
		// Started now, awaited by the run's finally: the last event does not wait for it.
		const closing = ledger.close();
		if (outcome === 'aborted') await closing;
	}
	if (outcome === 'ok') yield { type: 'done', finishReason, usage };
	else if (outcome === 'failed' && failure) yield { type: 'error', error: failure, usage };
}
