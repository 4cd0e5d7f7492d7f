/**
 * The events of `POST /api/chat` (Server-Sent Events), shared by the server that writes them and
 * the browser that reads them. Each SSE message is `event: <type>` + `data: <json>`.
 */
import type { ProviderId } from '$lib/providers';

export type KeySourceName = 'user' | 'app';
export type ProviderIdName = ProviderId;

export interface MetaEvent {
	type: 'meta';
	requestId: string;
	conversationId: string | null;
	/** The question of this turn as stored (null when regenerating an answer to an earlier one). */
	userMessageId?: string | null;
	/** The id the answer will be stored under (it is stored however the turn ends). */
	answerId?: string;
	model: string;
	provider: ProviderIdName;
	keySource: KeySourceName;
	servedBy: ProviderIdName;
	/** Set when the answer comes from another key than the first choice, with a message for people. */
	fallback: { reason: string; message: string } | null;
}

export interface DeltaEvent {
	type: 'delta';
	text: string;
}

export interface UsageEvent {
	type: 'usage';
	promptTokens: number;
	completionTokens: number;
	costMicros: number;
	/** Tokens counted by Latchkey's tokenizer because the provider reported none. */
	estimated: boolean;
}

export interface ErrorEvent {
	type: 'error';
	/** Machine code: rate_limited, spend_cap_reached, no_key, key_invalid, upstream_error, ... */
	code: string;
	reason: string | null;
	message: string;
	retryAfterSeconds: number | null;
	details: Record<string, unknown> | null;
	/** True when part of an answer had already arrived (it is kept, not replaced). */
	partial: boolean;
}

export interface DoneEvent {
	type: 'done';
	finishReason: 'stop' | 'length' | 'content_filter' | 'other' | 'error' | 'aborted';
	messageId: string | null;
}

export interface ConversationEvent {
	type: 'conversation';
	id: string;
	title: string;
}

export type ChatStreamEvent = MetaEvent | DeltaEvent | UsageEvent | ErrorEvent | DoneEvent | ConversationEvent;

const TYPES = new Set<ChatStreamEvent['type']>(['meta', 'delta', 'usage', 'error', 'done', 'conversation']);

export function encodeSse(event: ChatStreamEvent): string {
	const { type, ...data } = event;
	return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Parses an SSE byte stream into chat events. Tolerates chunk boundaries anywhere, `\r\n`, and
 * comment lines; ignores unknown event types so older clients survive newer servers.
 */
export async function* parseChatStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ChatStreamEvent> {
	const reader = body.getReader();
	const decoder = new TextDecoder();
	let buffer = '';
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) break;
			buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
			let boundary: number;
			while ((boundary = buffer.indexOf('\n\n')) >= 0) {
				const block = buffer.slice(0, boundary);
				buffer = buffer.slice(boundary + 2);
				const event = parseBlock(block);
				if (event) yield event;
			}
		}
	} finally {
		reader.releaseLock();
	}
}

function parseBlock(block: string): ChatStreamEvent | undefined {
	let type = 'message';
	const data: string[] = [];
	for (const line of block.split('\n')) {
		if (line.startsWith(':')) continue;
		if (line.startsWith('event:')) type = line.slice(6).trim();
		else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
	}
	if (!TYPES.has(type as ChatStreamEvent['type']) || data.length === 0) return undefined;
	try {
		return { type, ...(JSON.parse(data.join('\n')) as object) } as ChatStreamEvent;
	} catch {
		return undefined;
	}
}
