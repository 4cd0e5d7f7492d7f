import type { IncomingMessage } from 'node:http';
import { AppError } from '$lib/server/errors';

/**
 * Reading JSON request bodies in `+server.ts` endpoints (the chat and the OpenAI-compatible API),
 * with a byte limit that holds for chunked bodies too, and the 413 / 400 errors an endpoint maps
 * to its own error shape.
 */

function tooLarge(limitBytes: number): AppError {
	return new AppError(
		'payload_too_large',
		`The request body is larger than ${limitBytes >= 1024 * 1024 ? `${Math.floor(limitBytes / 1024 / 1024)} MiB` : `${Math.floor(limitBytes / 1024)} KiB`}, the most this API accepts. Send a shorter conversation or smaller images.`,
		{ reason: 'request_too_large' }
	);
}

/** A declared `content-length` over the limit is refused before anything is read. */
export function refuseDeclaredOversize(headers: Headers, limitBytes: number): void {
	const declared = Number(headers.get('content-length'));
	if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(limitBytes);
}

/**
 * Reads the body as JSON, counting the bytes actually received (a chunked body declares no
 * length). Past the limit it stops reading: the rest is never buffered (see `closeAfterDraining`).
 */
export async function readJsonBody(request: Request, limitBytes: number): Promise<unknown> {
	refuseDeclaredOversize(request.headers, limitBytes);
	if (!request.body) {
		throw new AppError('bad_request', 'Send the request body as JSON (content-type: application/json).', {
			reason: 'invalid_json'
		});
	}
	const reader = request.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	try {
		for (;;) {
			const { value, done } = await reader.read().catch((error: unknown) => {
				// adapter-node's own limit (when an operator set it lower than ours), or the client
				// went away while sending.
				if ((error as { status?: unknown } | null)?.status === 413) {
					throw new AppError('payload_too_large', 'The request body is larger than this server accepts.', {
						reason: 'request_too_large'
					});
				}
				throw new AppError('bad_request', 'The request body could not be read completely.', {
					reason: 'invalid_body'
				});
			});
			if (done) break;
			size += value.byteLength;
			if (size > limitBytes) throw tooLarge(limitBytes);
			chunks.push(value);
		}
	} finally {
		// Not cancel(): that destroys the socket before the 413 can be sent.
		reader.releaseLock();
	}
	const text = Buffer.concat(chunks).toString('utf8');
	try {
		return JSON.parse(text) as unknown;
	} catch {
		throw new AppError('bad_request', 'The request body is not valid JSON.', { reason: 'invalid_json' });
	}
}

/** How much of a refused body is read and dropped, at most, before the refusal goes out. */
const LINGER_BYTES = 8 * 1024 * 1024;
const LINGER_MS = 2_000;

/**
 * The refusal of a request whose body was not read to its end. The rest is read and dropped
 * first (bounded, like nginx's lingering close): closing while the client still sends resets the
 * connection, and the client would see a network error instead of the answer. The connection is
 * not reused afterwards.
 */
export async function closeAfterDraining(
	response: Response,
	request: Request,
	incoming: IncomingMessage | undefined
): Promise<Response> {
	const deadline = AbortSignal.timeout(LINGER_MS);
	const dropped = await dropThroughStream(request, deadline);
	if (dropped !== 'done' && dropped !== 'bounded') await dropFromSocket(incoming, deadline);
	response.headers.set('connection', 'close');
	return response;
}

/** While the body stream still delivers (nothing read yet, or past our own limit). */
async function dropThroughStream(request: Request, deadline: AbortSignal): Promise<'done' | 'bounded' | 'errored'> {
	if (!request.body || request.body.locked) return 'errored';
	const reader = request.body.getReader();
	const timedOut = new Promise<undefined>((resolve) => deadline.addEventListener('abort', () => resolve(undefined)));
	let size = 0;
	try {
		for (;;) {
			const chunk = await Promise.race([reader.read(), timedOut]);
			if (!chunk) return 'bounded';
			if (chunk.done) return 'done';
			size += chunk.value.byteLength;
			if (size > LINGER_BYTES) return 'bounded';
		}
	} catch {
		// adapter-node refused the body itself (BODY_SIZE_LIMIT): the rest waits on the socket.
		return 'errored';
	} finally {
		reader.releaseLock();
	}
}

/** After adapter-node's own refusal: it drops what still arrives once the request flows again. */
async function dropFromSocket(incoming: IncomingMessage | undefined, deadline: AbortSignal): Promise<void> {
	if (!incoming || incoming.complete || incoming.destroyed || deadline.aborted) return;
	let size = 0;
	await new Promise<void>((resolve) => {
		const finish = () => {
			incoming.off('data', count);
			incoming.off('end', finish);
			incoming.off('close', finish);
			deadline.removeEventListener('abort', finish);
			resolve();
		};
		const count = (chunk: Buffer) => {
			size += chunk.byteLength;
			if (size > LINGER_BYTES) finish();
		};
		incoming.on('data', count);
		incoming.once('end', finish);
		incoming.once('close', finish);
		deadline.addEventListener('abort', finish, { once: true });
		incoming.resume();
	});
}
