import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** The previous request's watch on each connection; HTTP/1.1 serves one request at a time per socket. */
const watches = new WeakMap<Socket, () => void>();

/**
 * Aborts when the client goes away: `request.signal` (SvelteKit aborts it only while the body is
 * still being read) or, under adapter-node, the connection closing at any later moment (before the
 * provider's headers, before the first token). The watch on a kept-alive connection is dropped
 * when its next request arrives, so listeners never pile up.
 */
export function clientSignal(request: Request, platform: { req?: IncomingMessage } | undefined): AbortSignal {
	const socket = platform?.req?.socket;
	if (!socket) return request.signal;
	watches.get(socket)?.();
	const gone = new AbortController();
	const abort = () => gone.abort(request.signal.reason);
	if (socket.destroyed || request.signal.aborted) {
		abort();
		return gone.signal;
	}
	socket.once('close', abort);
	request.signal.addEventListener('abort', abort, { once: true });
	watches.set(socket, () => socket.off('close', abort));
	return gone.signal;
}
