import WebSocket from 'ws';
import type { AppServer } from '../tests/helpers/app-server';

/**
 * A DevTools-protocol connection to a server started with `--inspect=127.0.0.1:0`, to measure its
 * live memory: `collectedMemory()` runs a full garbage collection, then reads
 * `process.memoryUsage()` inside it. RSS alone follows where the heap is in its grow-then-collect
 * cycle; what survives a full collection is what a leak would grow.
 */
export interface Inspector {
	collectedMemory(): Promise<{ heapUsed: number; rss: number }>;
	close(): void;
}

export async function connectInspector(app: AppServer, timeoutMs = 10_000): Promise<Inspector> {
	const deadline = Date.now() + timeoutMs;
	let url: string | undefined;
	while (!(url = /Debugger listening on (ws:\/\/\S+)/.exec(app.output())?.[1])) {
		if (Date.now() > deadline) throw new Error('the server printed no inspector address (start it with --inspect)');
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	const socket = new WebSocket(url);
	await new Promise<void>((resolve, reject) => {
		socket.once('open', () => resolve());
		socket.once('error', reject);
	});
	let nextId = 1;
	const pending = new Map<number, (message: { result?: unknown; error?: unknown }) => void>();
	socket.on('message', (data) => {
		const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown };
		if (message.id !== undefined) pending.get(message.id)?.(message);
		if (message.id !== undefined) pending.delete(message.id);
	});
	const call = (method: string, params: Record<string, unknown> = {}) =>
		new Promise<unknown>((resolve, reject) => {
			const id = nextId++;
			pending.set(id, (message) =>
				message.error ? reject(new Error(JSON.stringify(message.error))) : resolve(message.result)
			);
			socket.send(JSON.stringify({ id, method, params }));
		});
	return {
		async collectedMemory() {
			await call('HeapProfiler.collectGarbage');
			const result = (await call('Runtime.evaluate', {
				expression: 'JSON.stringify(process.memoryUsage())',
				returnByValue: true
			})) as { result: { value: string } };
			const usage = JSON.parse(result.result.value) as { heapUsed: number; rss: number };
			return { heapUsed: usage.heapUsed, rss: usage.rss };
		},
		close() {
			socket.close();
		}
	};
}
