import { createParser } from 'eventsource-parser';

/** Far above any chat chunk (the largest carry one tool call's arguments). */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;

/**
 * The JSON data of a Server-Sent Events body's events, one batch per network read: one await per read
 * instead of several per event (the SDKs' nested iterators), which at 50 chunks an answer was most
 * of a relay's CPU. Ends at `data: [DONE]` (the rest of the body is read and dropped, so the
 * connection goes back to the pool) or at the body's end. A data line that is not JSON throws.
 */
export async function* sseJsonBatches(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown[], void, undefined> {
	const decoder = new TextDecoder();
	let batch: unknown[] = [];
	let done = false;
	/** A data line that is not JSON: thrown after the events before it went out. */
	let malformed: unknown;
	const parser = createParser({
		// One event beyond this is not a chat chunk: fail it rather than buffer without end.
		maxBufferSize: MAX_EVENT_BYTES,
		onError(error) {
			if (error.type !== 'max-buffer-size-exceeded' || malformed !== undefined) return;
			done = true;
			malformed = error;
		},
		onEvent(message) {
			if (done) return;
			if (message.data.startsWith('[DONE]')) {
				done = true;
				return;
			}
			try {
				batch.push(JSON.parse(message.data) as unknown);
			} catch (error) {
				done = true;
				malformed = error;
			}
		}
	});
	const reader = body.getReader();
	let ended = false;
	try {
		for (;;) {
			const read = await reader.read();
			if (read.done) {
				// An unterminated last event is dropped, as the SDKs' readers drop it.
				ended = true;
				parser.feed(decoder.decode());
			} else {
				parser.feed(decoder.decode(read.value, { stream: true }));
			}
			if (batch.length > 0) {
				const ready = batch;
				batch = [];
				yield ready;
			}
			if (malformed !== undefined) throw malformed;
			if (ended) return;
		}
	} finally {
		// Stopped early by the consumer: close the body (the caller's abort closes the connection).
		if (!ended) await reader.cancel().catch(() => undefined);
	}
}
