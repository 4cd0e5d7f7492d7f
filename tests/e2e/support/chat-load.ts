/**
 * Concurrent chat load against a running app (`POST /api/chat` with session cookies) and the
 * bookkeeping checks the fault suite, the leak scan and the benches share: what each request got,
 * the server's metrics, and whether the database accounts for every admitted request.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { parseChatStream, type ChatStreamEvent } from '$lib/chat/events';
import { TestClient } from '../../helpers/http-client';

export interface ChatOutcome {
	/** The server's id for the request (`x-request-id`); '' when the connection failed. */
	requestId: string;
	model: string;
	/** HTTP status; 0 when the connection failed (server gone). */
	status: number;
	/** For 200: the stream's events, in order. */
	events: ChatStreamEvent[];
	/** For errors: the JSON body's error. */
	error?: { type: string; code: string; message: string };
	/** How the stream ended: `done`, or `cut` when the connection broke before `done`. */
	ended: 'done' | 'cut' | 'not_streamed';
	startedAt: number;
	finishedAt: number;
}

/**
 * One chat turn. The server names the request (`x-request-id`); that id keys its usage record. A
 * client id sent along is only logged (`clientRequestId`), never used for accounting.
 */
export async function chatOnce(
	client: TestClient,
	body: { model: string; content: string; conversationId?: string },
	options: { signal?: AbortSignal } = {}
): Promise<ChatOutcome> {
	const startedAt = Date.now();
	const base = { requestId: '', model: body.model, events: [] as ChatStreamEvent[], startedAt };
	let response: Response;
	try {
		response = await client.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'x-request-id': `load-${randomUUID()}` },
			body: JSON.stringify(body),
			signal: options.signal
		});
	} catch {
		return { ...base, status: 0, ended: 'not_streamed', finishedAt: Date.now() };
	}
	base.requestId = response.headers.get('x-request-id') ?? '';
	if (response.status !== 200 || !response.body) {
		const text = await response.text().catch(() => '');
		let error: ChatOutcome['error'];
		try {
			error = (JSON.parse(text) as { error?: ChatOutcome['error'] }).error;
		} catch {
			error = { type: 'not_json', code: 'not_json', message: text.slice(0, 300) };
		}
		return { ...base, status: response.status, error, ended: 'not_streamed', finishedAt: Date.now() };
	}
	const events: ChatStreamEvent[] = [];
	try {
		for await (const event of parseChatStream(response.body)) events.push(event);
	} catch {
		// The connection broke mid-stream; `ended` says so.
	}
	return {
		...base,
		status: 200,
		events,
		ended: events.at(-1)?.type === 'done' ? 'done' : 'cut',
		finishedAt: Date.now()
	};
}

/**
 * Runs `concurrency` workers until `until()` is true; each worker repeatedly asks `next(worker)`
 * for the client and body of its next request.
 */
export async function runLoad(options: {
	concurrency: number;
	until: () => boolean;
	next: (worker: number, sequence: number) => { client: TestClient; body: { model: string; content: string } };
}): Promise<ChatOutcome[]> {
	const outcomes: ChatOutcome[] = [];
	let sequence = 0;
	const worker = async (index: number) => {
		while (!options.until()) {
			const { client, body } = options.next(index, sequence++);
			outcomes.push(await chatOnce(client, body));
		}
	};
	await Promise.all(Array.from({ length: options.concurrency }, (_, index) => worker(index)));
	return outcomes;
}

/** One value from the app's `/metrics` (sum over series whose labels match). */
export async function metricValue(
	appUrl: string,
	name: string,
	labels: Record<string, string> = {},
	token?: string
): Promise<number> {
	const response = await fetch(`${appUrl}/metrics`, {
		headers: token ? { authorization: `Bearer ${token}` } : {}
	});
	const text = await response.text();
	let total = 0;
	for (const line of text.split('\n')) {
		const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		if (!match || match[1] !== name) continue;
		const present = Object.fromEntries(
			[...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])
		);
		if (Object.entries(labels).every(([key, value]) => present[key] === value)) total += Number(match[3]);
	}
	return total;
}

/** Waits until no stream is open and nothing waits in the usage writer's queue. */
export async function waitUntilQuiet(appUrl: string, timeoutMs = 30_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const [streams, pending] = await Promise.all([
			metricValue(appUrl, 'latchkey_active_streams'),
			metricValue(appUrl, 'latchkey_pending_writes')
		]);
		if (streams === 0 && pending === 0) return;
		if (Date.now() > deadline) throw new Error(`app not quiet: ${streams} open streams, ${pending} pending writes`);
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
}

export interface Accounting {
	reservations: number;
	/** Reservations with no outcome: neither settled, released nor reclaimed. */
	openReservations: string[];
	/** Request ids (the part before `:<attempt>`) that hold at least one reservation. */
	admittedRequestIds: Set<string>;
	/** request id → its usage rows (the unique constraint allows one). */
	usage: Map<string, { success: boolean; errorCode: string | null; keySource: string }>;
	/** Admitted requests without a usage record. */
	admittedWithoutUsage: string[];
}

/** Reads the bookkeeping tables straight from PostgreSQL (not through the app or its proxy). */
export async function readAccounting(databaseUrl: string): Promise<Accounting> {
	const client = new pg.Client({ connectionString: databaseUrl });
	await client.connect();
	try {
		const reservations = await client.query<{ request_id: string; outcome: string | null }>(
			'select request_id, outcome from limit_reservations'
		);
		const usage = await client.query<{
			request_id: string;
			success: boolean;
			error_code: string | null;
			key_source: string;
		}>('select request_id, success, error_code, key_source from usage_records');
		const usageMap = new Map(
			usage.rows.map((row) => [
				row.request_id,
				{ success: row.success, errorCode: row.error_code, keySource: row.key_source }
			])
		);
		const admitted = new Set(reservations.rows.map((row) => row.request_id.replace(/:\d+$/, '')));
		return {
			reservations: reservations.rows.length,
			openReservations: reservations.rows.filter((row) => row.outcome === null).map((row) => row.request_id),
			admittedRequestIds: admitted,
			usage: usageMap,
			admittedWithoutUsage: [...admitted].filter((id) => !usageMap.has(id))
		};
	} finally {
		await client.end();
	}
}

export { leakedPieces, secretPieces } from '../../helpers/secret-pieces';
