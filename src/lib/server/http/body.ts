import { AppError } from '$lib/server/errors';

/**
 * Reading JSON request bodies in `+server.ts` endpoints (the chat and the OpenAI-compatible API),
 * with a byte limit that holds for chunked bodies too, and the 413 / 400 errors an endpoint maps
 * to its own error shape.
 */

function tooLarge(limitBytes: number): AppError {
	return new AppError(
		'payload_too_large',
		`The request body is larger than ${Math.floor(limitBytes / 1024)} KiB, the most this API accepts. Send a shorter conversation.`,
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
 * length). Past the limit it stops reading: the rest is never buffered, and the 413 goes out with
 * `connection: close` (see `closeAfter`), so the unread remainder dies with the connection.
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

/** Responses after which the connection must not be reused (a request body was left unread). */
export function closeAfter(response: Response): Response {
	response.headers.set('connection', 'close');
	return response;
}
