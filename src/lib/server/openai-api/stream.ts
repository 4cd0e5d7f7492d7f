import { AppError, httpErrorOf, httpErrorResponse } from '$lib/server/errors';
import { TurnBatcher, type Batch } from '$lib/server/http';
import type { Logger } from '$lib/server/log';
import type { ToolCall } from '$lib/server/providers';
import type { ChatSession, SessionEvent } from '$lib/server/routing';
import { chunkBody, completionBody, contentChunkWriter, type CompletionMeta } from './responses';

/**
 * Turns a chat session into OpenAI's answers: Server-Sent Events of `chat.completion.chunk`s
 * ending with `data: [DONE]`, or one `chat.completion` JSON body.
 *
 * A failure after the answer started cannot change the status any more: it becomes a
 * `data: {"error": {...}}` event (what OpenAI and OpenRouter send; the `openai` SDK throws it as an
 * `APIError`), then `[DONE]`. The partial answer above it stays with the client, and is billed.
 */

const encoder = new TextEncoder();
const sseText = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
const sse = (data: unknown) => encoder.encode(sseText(data));

export interface StreamOptions {
	includeUsage: boolean;
	requestId: string;
	log: Logger;
}

function internalFailure(error: unknown, options: StreamOptions): SessionEvent {
	// The engine settles and records on its own; anything thrown here is our bug or the database.
	options.log.error({ err: error, requestId: options.requestId }, 'the chat stream failed');
	return {
		type: 'error',
		error: new AppError('internal', 'The answer stopped because of a problem on our side. Try again.'),
		usage: { promptTokens: 0, completionTokens: 0, costMicros: 0, estimated: true }
	};
}

async function nextEvent(session: ChatSession, options: StreamOptions): Promise<IteratorResult<SessionEvent>> {
	try {
		return await session.events.next();
	} catch (error) {
		return { done: false, value: internalFailure(error, options) };
	}
}

async function nextBatch(batcher: TurnBatcher<SessionEvent>, options: StreamOptions): Promise<Batch<SessionEvent>> {
	try {
		return await batcher.next();
	} catch (error) {
		return { values: [internalFailure(error, options)], done: false };
	}
}

export function completionStream(
	session: ChatSession,
	meta: CompletionMeta,
	options: StreamOptions
): ReadableStream<Uint8Array> {
	const { includeUsage } = options;
	const batcher = new TurnBatcher(session.events);
	const contentChunk = contentChunkWriter(meta, includeUsage);
	return new ReadableStream<Uint8Array>({
		start(controller) {
			controller.enqueue(sse(chunkBody(meta, { kind: 'role' }, includeUsage)));
		},
		async pull(controller) {
			// Everything that arrived in this turn goes out in one write.
			const batch = await nextBatch(batcher, options);
			let text = '';
			for (const event of batch.values) {
				if (event.type === 'delta') {
					text += contentChunk(event.text);
				} else if (event.type === 'tool_call') {
					text += sseText(chunkBody(meta, { ...event, kind: 'tool_call' }, includeUsage));
				} else {
					const last: unknown[] =
						event.type === 'done'
							? [
									chunkBody(meta, { kind: 'finish', finishReason: event.finishReason }, includeUsage),
									...(includeUsage ? [chunkBody(meta, { kind: 'usage', usage: event.usage }, true)] : [])
								]
							: [httpErrorOf(event.error, options.requestId).body];
					controller.enqueue(encoder.encode(`${text}${last.map(sseText).join('')}data: [DONE]\n\n`));
					controller.close();
					return;
				}
			}
			if (text) controller.enqueue(encoder.encode(text));
			// Only after an abort does the session end without an outcome; nobody is listening.
			if (batch.done) controller.close();
		},
		async cancel() {
			// The client went away: stop the provider; the engine then settles and records the request.
			session.abort();
			await session.events.return(undefined);
		}
	});
}

/** The non-stream answer: the whole text, or the error status when the provider failed midway. */
export async function completionResponse(
	session: ChatSession,
	meta: CompletionMeta,
	options: StreamOptions & { headers: Record<string, string> }
): Promise<Response> {
	let text = '';
	const toolCalls: ToolCall[] = [];
	for (;;) {
		const next = await nextEvent(session, options);
		if (next.done) break;
		const event = next.value;
		if (event.type === 'delta') {
			text += event.text;
		} else if (event.type === 'tool_call') {
			// Pieces of one call share its index; the first names it.
			const call = (toolCalls[event.index] ??= { id: '', name: '', arguments: '' });
			call.id = event.id ?? call.id;
			call.name = event.name ?? call.name;
			call.arguments += event.arguments;
		} else if (event.type === 'done') {
			const calls = toolCalls.filter((c): c is ToolCall => c !== undefined);
			return new Response(JSON.stringify(completionBody(meta, text, event.finishReason, event.usage, calls)), {
				headers: { 'content-type': 'application/json', ...options.headers }
			});
		} else {
			const response = httpErrorResponse(event.error, options.requestId);
			for (const [name, value] of Object.entries(options.headers)) response.headers.set(name, value);
			return response;
		}
	}
	// The events end without an outcome only after an abort (the client went away).
	return httpErrorResponse(
		new AppError('bad_request', 'The request was cancelled.', { reason: 'client_aborted' }),
		options.requestId
	);
}
