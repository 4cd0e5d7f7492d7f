import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (PostgreSQL) that a test can cut and restore: `down()`
 * resets every open connection and refuses new ones, like a stopped database; `up()` serves again
 * on the same port.
 */
export interface TcpProxy {
	port: number;
	down(): Promise<void>;
	up(): Promise<void>;
	close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
	const sockets = new Set<Socket>();
	let server: Server | undefined;
	let port = 0;

	const listen = () =>
		new Promise<void>((resolve, reject) => {
			server = createServer((client) => {
				const upstream = connect(target.port, target.host);
				sockets.add(client);
				sockets.add(upstream);
				client.pipe(upstream).pipe(client);
				const drop = () => {
					client.destroy();
					upstream.destroy();
					sockets.delete(client);
					sockets.delete(upstream);
				};
				client.on('error', drop).on('close', drop);
				upstream.on('error', drop).on('close', drop);
			});
			server.once('error', reject);
			server.listen(port, '127.0.0.1', () => {
				const address = server?.address();
				if (typeof address === 'object' && address) port = address.port;
				resolve();
			});
		});

	const stop = () =>
		new Promise<void>((resolve) => {
			for (const socket of sockets) socket.resetAndDestroy();
			sockets.clear();
			if (!server) return resolve();
			server.close(() => resolve());
			server = undefined;
		});

	await listen();
	return {
		get port() {
			return port;
		},
		down: stop,
		up: listen,
		close: stop
	};
}

/** The same URL with host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: TcpProxy): string {
	const parsed = new URL(url);
	parsed.hostname = '127.0.0.1';
	parsed.port = String(proxy.port);
	return parsed.toString();
}
