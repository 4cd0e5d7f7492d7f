import { encodeSse, type ChatStreamEvent } from '$lib/chat/events';
import { appendMessage } from '$lib/server/conversations';
import type { AppError } from '$lib/server/errors';
import { TurnBatcher } from '$lib/server/http';
import type { ChatSession, FinalUsage, SessionEvent } from '$lib/server/routing';
import type { WebChatContext } from './web-chat';

/** Where the answer is stored: its conversation and the message it answers. */
export interface AnswerPlace {
	conversation: { id: string; title: string; isNew: boolean };
	/** The question just stored (null when regenerating an answer to an earlier one). */
	userMessageId: string | null;
	/** The message the answer follows. */
	parentId: string;
	/** The answer's id, chosen before it is stored so the page can build on it even after a stop. */
	answerId: string;
}

/**
 * The web chat's event stream for one answer; the answer is stored when it ends, however it
 * ends (a stop keeps the partial text).
 */
export function answerStream(
	ctx: WebChatContext,
	session: ChatSession,
	place: AnswerPlace,
	model: string
): ReadableStream<Uint8Array> {
	const { conversation } = place;
	const encoder = new TextEncoder();
	const send = (controller: ReadableStreamDefaultController<Uint8Array>, event: ChatStreamEvent) =>
		controller.enqueue(encoder.encode(encodeSse(event)));
	let text = '';
	let persisted = false;

	const persist = async (outcome: { usage?: FinalUsage; errorCode?: string; errorMessage?: string }) => {
		if (persisted) return null;
		persisted = true;
		return appendMessage(ctx.deps.db, conversation.id, {
			role: 'assistant',
			content: text,
			model,
			provider: session.model.provider,
			keySource: session.keySource,
			requestId: ctx.requestId,
			promptTokens: outcome.usage?.promptTokens,
			completionTokens: outcome.usage?.completionTokens,
			costMicros: outcome.usage?.costMicros,
			estimated: outcome.usage?.estimated,
			errorCode: outcome.errorCode ?? null,
			errorMessage: outcome.errorMessage ?? null,
			fallbackReason: session.fallback?.reason ?? null,
			parentId: place.parentId,
			id: place.answerId
		}).catch((error: unknown) => {
			ctx.deps.log.error({ err: error, requestId: ctx.requestId }, 'storing the assistant message failed');
			return null;
		});
	};

	/** The answer's last events: stored first, so `done` carries the message id. */
	const finish = async (
		controller: ReadableStreamDefaultController<Uint8Array>,
		event: Extract<SessionEvent, { type: 'done' | 'error' }>
	) => {
		const messageId =
			event.type === 'done'
				? await persist({ usage: event.usage })
				: await persist({
						usage: event.usage,
						errorCode: event.error.reason ?? event.error.code,
						errorMessage: event.error.message
					});
		send(controller, { type: 'usage', ...event.usage });
		if (event.type === 'error') send(controller, errorEvent(event.error, text.length > 0));
		const finishReason =
			event.type === 'error' ? 'error' : event.finishReason === 'tool_calls' ? 'other' : event.finishReason;
		send(controller, { type: 'done', finishReason, messageId });
		controller.close();
	};

	const batcher = new TurnBatcher(session.events);
	return new ReadableStream<Uint8Array>({
		start(controller) {
			if (conversation.isNew)
				send(controller, { type: 'conversation', id: conversation.id, title: conversation.title });
			send(controller, {
				type: 'meta',
				requestId: ctx.requestId,
				conversationId: conversation.id,
				userMessageId: place.userMessageId,
				answerId: place.answerId,
				model: session.model.id,
				provider: session.model.provider,
				keySource: session.keySource,
				servedBy: session.servedBy,
				fallback: session.fallback
			});
		},
		async pull(controller) {
			// What arrived in this turn goes out as one delta event, in one write.
			const batch = await batcher.next();
			let delta = '';
			for (const event of batch.values) {
				// The web chat offers no tools, so no model calls one.
				if (event.type === 'tool_call') continue;
				if (event.type === 'delta') {
					delta += event.text;
					continue;
				}
				text += delta;
				if (delta) send(controller, { type: 'delta', text: delta });
				await finish(controller, event);
				return;
			}
			text += delta;
			if (delta) send(controller, { type: 'delta', text: delta });
			if (batch.done) {
				// Routing ended without an outcome: the client went away. The partial answer is kept.
				await persist({ errorCode: 'client_aborted', errorMessage: 'Stopped.' });
				controller.close();
			}
		},
		async cancel() {
			// The client went away: stop the provider, let routing settle and record, keep the partial answer.
			session.abort();
			await session.events.return(undefined);
			await persist({ errorCode: 'client_aborted', errorMessage: 'Stopped.' });
		}
	});
}

function errorEvent(error: AppError, partial: boolean): ChatStreamEvent {
	return {
		type: 'error',
		code: error.code,
		reason: error.reason ?? null,
		message: error.message,
		retryAfterSeconds: error.retryAfterSeconds ?? null,
		details: error.details ?? null,
		partial
	};
}
