import { isDatabaseUnavailable } from '$lib/server/db';
import { openRoute, type OpenedRoute, type Stops } from './attempts';
import { serverRestarting } from './errors';
import { estimateChat, type ChatEstimate } from './estimate';
import { Ledger, type Lifetime } from './ledger';
import { ownKeyProviders } from './plan';
import { ownKeyAdmission, prepareChat, refuseAfterPrincipal } from './prepare';
import { relayEvents } from './stream';
import type { ChatDeps, ChatRequest, ChatSession, SessionEvent } from './types';
import { linkAbort } from './upstream';

/**
 * The request path of a chat: estimate, the first statement (who asks, their keys, the admission
 * for their own key), plan, admit, open the key, call the provider; before the first token retry
 * once and fall back, after it never splice two answers. The request's ledger closes in the run's
 * one `finally`: every reservation settled or released, exactly one usage record.
 */

const UNREGISTERED: Lifetime = { signal: new AbortController().signal, end() {} };

type RunEvent = SessionEvent | { type: 'opened'; route: OpenedRoute };

export async function startChat(deps: ChatDeps, request: ChatRequest): Promise<ChatSession> {
	const estimate = await estimateChat(request).catch((error: unknown) =>
		refuseAfterPrincipal(deps.db, request.principal, error)
	);
	if (deps.activeChats?.isStopping) throw serverRestarting(false);
	const lifetime = deps.activeChats?.begin(request.requestId) ?? UNREGISTERED;
	const ledger = new Ledger(deps, { requestId: request.requestId, api: request.api, estimate, lifetime });
	const stop = new AbortController();
	const stops: Stops = {
		signal: stop.signal,
		byServer: () => lifetime.signal.aborted && !request.signal.aborted
	};
	const unhook = [linkAbort(stop, request.signal), linkAbort(stop, lifetime.signal)];
	const run = chatRun(deps, request, estimate, ledger, stops, () => unhook.forEach((u) => u()));
	const first = await run.next();
	if (first.done || first.value.type !== 'opened') throw new Error('the chat run ended before it opened');
	const { attempt, fallback } = first.value.route;
	return {
		requestId: request.requestId,
		model: estimate.model,
		keySource: attempt.keySource,
		servedBy: attempt.servedBy,
		fallback,
		abort: () => stop.abort(),
		// After `opened` the run yields only session events.
		events: run as AsyncGenerator<SessionEvent, void, undefined>
	};
}

async function* chatRun(
	deps: ChatDeps,
	request: ChatRequest,
	estimate: ChatEstimate,
	ledger: Ledger,
	stops: Stops,
	unhook: () => void
): AsyncGenerator<RunEvent, void, undefined> {
	const started = Date.now();
	try {
		const admission = ownKeyAdmission(deps.config.limitDefaults, request.requestId, estimate);
		const prepared = await prepareChat(deps.db, request.principal, admission).catch((error: unknown) => {
			if (isDatabaseUnavailable(error)) {
				// It may have admitted for the user's own key before its answer was lost.
				if (request.principal.kind === 'session') ledger.userId = request.principal.userId;
				const servedBy = ownKeyProviders(estimate.model)[0] ?? estimate.model.provider;
				const attempt = { keySource: 'user' as const, servedBy };
				ledger.admissionLost(attempt);
				ledger.finish({ ...attempt, success: false, errorCode: 'database_unavailable', fallbackReason: null });
			}
			throw error;
		});
		ledger.userId = prepared.owner.userId;
		ledger.tokenId = prepared.owner.tokenId;
		const route = await openRoute(deps, request, estimate, prepared, ledger, stops);
		yield { type: 'opened', route };
		yield* relayEvents(deps, route, ledger, stops, {
			model: estimate.model,
			promptTokens: estimate.promptTokens,
			started
		});
	} finally {
		unhook();
		await ledger.close();
	}
}
