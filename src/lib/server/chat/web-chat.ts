import { z } from 'zod';
import { encodeSse, type ChatStreamEvent } from '$lib/chat/events';
import { appendMessage, loadHistory, MAX_MESSAGE_CHARS, startConversation, titleFrom } from '$lib/server/conversations';
import { AppError, httpErrorOf, isAppError } from '$lib/server/errors';
import { parseInput, userText } from '$lib/server/validation';
import { startChat, type ChatDeps, type ChatSession, type FinalUsage } from '$lib/server/routing';

/**
 * `POST /api/chat`: one user turn of a stored conversation, answered as Server-Sent Events
 * (`conversation`, `meta`, `delta`…, `usage`, `error`, `done`; see $lib/chat/events.ts).
 * Failures before the answer starts are plain HTTP errors (400, 402, 429 with retry-after, 502),
 * recorded in the conversation so a reload shows what happened.
 */

export const webChatInput = z
	.object({
		conversationId: z.string().uuid({ message: 'Unknown conversation.' }).optional(),
		model: userText(z.string({ required_error: 'Choose a model.' }).min(1, 'Choose a model.').max(200), 'Model ids'),
		content: userText(z.string({ required_error: 'Write a message first.' }), 'Messages')
			.refine((text) => text.trim().length > 0, 'Write a message first.')
			.refine(
				(text) => text.length <= MAX_MESSAGE_CHARS,
				`Messages can be at most ${MAX_MESSAGE_CHARS.toLocaleString('en-US')} characters.`
			),
		maxTokens: z.number().int().min(1).max(100_000).optional()
	})
	.strict();

export interface WebChatContext {
	deps: ChatDeps;
	userId: string;
	requestId: string;
	signal: AbortSignal;
}

interface StoredConversation {
	id: string;
	title: string;
	isNew: boolean;
}

export async function handleWebChat(ctx: WebChatContext, body: unknown): Promise<Response> {
	const input = parseInput(webChatInput, body);
	const { db } = ctx.deps;
	const userMessage = { role: 'user', content: input.content, model: input.model } as const;
	// Continuing: the history (which also proves ownership) is the prompt, so it comes first.
	let history: { role: 'user' | 'assistant'; content: string }[] = [];
	let stored: Promise<StoredConversation>;
	if (input.conversationId) {
		const id = input.conversationId;
		history = await loadHistory(db, ctx.userId, id);
		stored = appendMessage(db, id, userMessage).then(() => ({ id, title: '', isNew: false }));
	} else {
		stored = startConversation(db, ctx.userId, {
			title: titleFrom(input.content),
			model: input.model,
			message: userMessage
		}).then((created) => ({ id: created.id, title: created.title, isNew: true }));
	}
	// Storing the user's message runs while routing plans, admits and opens the provider call: it
	// is not on the way to the first token. Both are awaited before anything is answered.
	const started = startChat(ctx.deps, {
		principal: { kind: 'session', userId: ctx.userId },
		modelId: input.model,
		messages: [...history, { role: 'user', content: input.content }],
		maxOutputTokens: input.maxTokens,
		stream: true,
		api: 'web',
		requestId: ctx.requestId,
		signal: ctx.signal
	});
	const [storing, starting] = await Promise.allSettled([stored, started]);

	if (storing.status === 'rejected') {
		// As before this ran concurrently: the message could not be stored, so the request fails
		// with that error. A chat that did start is stopped; routing still settles it and writes
		// its usage record (a chat that failed to start wrote its own).
		if (starting.status === 'fulfilled') await discard(starting.value);
		throw storing.reason;
	}
	const conversation = storing.value;

	if (starting.status === 'rejected') {
		const error: unknown = starting.reason;
		const appError = isAppError(error) ? error : undefined;
		await appendMessage(db, conversation.id, {
			role: 'assistant',
			content: '',
			model: input.model,
			requestId: ctx.requestId,
			errorCode: appError?.reason ?? appError?.code ?? 'internal',
			errorMessage: appError?.message ?? 'Something went wrong on our side.'
		}).catch(() => {});
		if (!appError) throw error;
		const { status, headers, body: errorBody } = httpErrorOf(appError, ctx.requestId);
		// `details` tells the page which limit was hit and when it resets (details.resetsAt).
		const payload = {
			error: { ...errorBody.error, details: appError.details ?? null },
			conversation: { id: conversation.id, title: conversation.title, isNew: conversation.isNew }
		};
		return new Response(JSON.stringify(payload), { status, headers });
	}
	const session = starting.value;

	return new Response(sseStream(ctx, session, conversation, input.model), {
		headers: {
			'content-type': 'text/event-stream; charset=utf-8',
			'cache-control': 'no-store',
			'x-accel-buffering': 'no',
			'x-key-source': session.keySource,
			'x-request-id': ctx.requestId
		}
	});
}

/** Stops a chat nobody will read and runs its events to the end, so its bookkeeping happens. */
async function discard(session: ChatSession): Promise<void> {
	session.abort();
	for (let next = await session.events.next(); !next.done; next = await session.events.next()) {
		// Nothing to forward.
	}
}

function sseStream(
	ctx: WebChatContext,
	session: ChatSession,
	conversation: { id: string; title: string; isNew: boolean },
	model: string
): ReadableStream<Uint8Array> {
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
			fallbackReason: session.fallback?.reason ?? null
		}).catch((error: unknown) => {
			ctx.deps.log.error({ err: error, requestId: ctx.requestId }, 'storing the assistant message failed');
			return null;
		});
	};

	return new ReadableStream<Uint8Array>({
		start(controller) {
			if (conversation.isNew)
				send(controller, { type: 'conversation', id: conversation.id, title: conversation.title });
			send(controller, {
				type: 'meta',
				requestId: ctx.requestId,
				conversationId: conversation.id,
				model: session.model.id,
				provider: session.model.provider,
				keySource: session.keySource,
				servedBy: session.servedBy,
				fallback: session.fallback
			});
		},
		async pull(controller) {
			const next = await session.events.next();
			if (next.done) {
				controller.close();
				return;
			}
			const event = next.value;
			// The web chat offers no tools, so no model calls one.
			if (event.type === 'tool_call') return;
			if (event.type === 'delta') {
				text += event.text;
				send(controller, { type: 'delta', text: event.text });
				return;
			}
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
