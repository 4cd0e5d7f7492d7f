// HTTP plumbing: body reading, SSE framing, and the Exchange that writes one response and
// keeps its log entry up to date (first byte, end, who closed it).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeRequest } from './types';

export type HeaderMap = Record<string, string>;

/** An error (or any canned) JSON answer. */
export interface JsonReply {
	status: number;
	body: unknown;
	headers?: HeaderMap;
}

const MAX_BODY_BYTES = 10 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
	const parts: Buffer[] = [];
	let size = 0;
	for await (const part of req) {
		const buffer = Buffer.isBuffer(part) ? part : Buffer.from(String(part));
		size += buffer.length;
		if (size > MAX_BODY_BYTES) throw new Error('request body too large');
		parts.push(buffer);
	}
	return Buffer.concat(parts).toString('utf8');
}

export type JsonParse = { ok: true; value: unknown } | { ok: false };

export function parseJson(text: string): JsonParse {
	try {
		return { ok: true, value: JSON.parse(text) as unknown };
	} catch {
		return { ok: false };
	}
}

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `body` with fields of `body[key]` replaced (an error answer's code), or `body` as it was. */
export function withFields(body: unknown, key: string, fields: Record<string, unknown>): unknown {
	const inner = isRecord(body) ? body[key] : undefined;
	return isRecord(body) && isRecord(inner) ? { ...body, [key]: { ...inner, ...fields } } : body;
}

export function sseData(payload: unknown): string {
	return `data: ${JSON.stringify(payload)}\n\n`;
}

export function sseEvent(name: string, payload: unknown): string {
	return `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
}

export function sseComment(text: string): string {
	return `: ${text}\n\n`;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomId(prefix: string, length = 24): string {
	const bytes = randomBytes(length);
	let id = prefix;
	for (const byte of bytes) id += ALPHANUMERIC[byte % ALPHANUMERIC.length];
	return id;
}

export function nowSeconds(): number {
	return Math.floor(Date.now() / 1000);
}

/** Pause before cutting a connection, so the client has read what was already written. */
const CUT_AFTER_MS = 50;

/** One request/response pair, tied to its log entry. */
export class Exchange {
	private closed = false;
	private cutByServer = false;
	private readonly closeWaiters = new Set<() => void>();

	constructor(
		readonly req: IncomingMessage,
		readonly res: ServerResponse,
		readonly entry: FakeRequest
	) {
		res.on('close', () => this.onClose());
	}

	get isClosed(): boolean {
		return this.closed;
	}

	/** Wait; resolves true if the connection is still open afterwards (early if it closes). */
	sleep(ms: number): Promise<boolean> {
		if (this.closed) return Promise.resolve(false);
		if (ms <= 0) return Promise.resolve(true);
		return new Promise((resolve) => {
			const done = (): void => {
				clearTimeout(timer);
				this.closeWaiters.delete(done);
				resolve(!this.closed);
			};
			const timer = setTimeout(done, ms);
			this.closeWaiters.add(done);
		});
	}

	sendJson(reply: JsonReply): void {
		this.sendText(reply.status, JSON.stringify(reply.body), 'application/json', reply.headers);
	}

	sendText(status: number, text: string, contentType: string, headers: HeaderMap = {}): void {
		if (this.closed) return;
		this.markHeadersSent(status);
		this.res.writeHead(status, {
			...headers,
			'content-type': contentType,
			'content-length': String(Buffer.byteLength(text))
		});
		this.res.end(text);
	}

	startEventStream(headers: HeaderMap = {}): void {
		if (this.closed) return;
		this.markHeadersSent(200);
		this.res.writeHead(200, {
			...headers,
			'content-type': 'text/event-stream; charset=utf-8',
			'cache-control': 'no-cache',
			connection: 'keep-alive'
		});
		this.res.flushHeaders();
	}

	/** Write a piece of the body; resolves false if the client has gone. */
	write(text: string): Promise<boolean> {
		if (this.closed) return Promise.resolve(false);
		return new Promise((resolve) => {
			const onClose = (): void => resolve(false);
			this.closeWaiters.add(onClose);
			this.res.write(text, (error) => {
				this.closeWaiters.delete(onClose);
				resolve(!error && !this.closed);
			});
		});
	}

	end(): void {
		if (!this.closed) this.res.end();
	}

	/** Reset the connection (TCP RST) after the client had time to read what was written. */
	async cutConnection(): Promise<void> {
		if (!(await this.sleep(CUT_AFTER_MS))) return;
		this.cutByServer = true;
		const socket = this.res.socket ?? this.req.socket;
		socket.resetAndDestroy();
	}

	private markHeadersSent(status: number): void {
		this.entry.status = status;
		this.entry.firstByteAt = Date.now();
	}

	private onClose(): void {
		this.closed = true;
		const finished = this.res.writableFinished && !this.cutByServer;
		this.entry.endedAt = Date.now();
		this.entry.completed = finished;
		this.entry.closedByClient = !finished && !this.cutByServer;
		for (const wake of [...this.closeWaiters]) wake();
		this.closeWaiters.clear();
	}
}

/** The first value of a request header, if present and non-empty. */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
	const raw = req.headers[name.toLowerCase()];
	const value = Array.isArray(raw) ? raw[0] : raw;
	return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(req: IncomingMessage): string | undefined {
	const match = /^Bearer\s+(\S+)\s*$/i.exec(headerValue(req, 'authorization') ?? '');
	return match?.[1];
}
