import { parseChatStream, type ChatStreamEvent, type ErrorEvent } from './events';

/**
 * The browser side of `POST /api/chat`: sends one turn, hands every Server-Sent Event to the
 * caller as it arrives, and can be stopped (the server then keeps and records the partial answer).
 * A refusal before the answer starts comes back as HTTP JSON and becomes the same `ChatFailure`
 * as an in-stream `error` event, so the page shows both the same way.
 */

export interface ChatTurnRequest {
	/** Absent: the server starts a new conversation (announced by the first `conversation` event). */
	conversationId?: string;
	/** The message this turn follows (null: a new first message, as when editing the first question). */
	parentId?: string | null;
	/** Answer `parentId` (a question) again instead of sending a new message. */
	regenerate?: true;
	model: string;
	content?: string;
	/** Attached images as base64 `data:` URLs. */
	images?: { dataUrl: string }[];
	/** Only when starting a conversation. */
	systemPrompt?: string;
}

/** What went wrong, in the words the server chose, plus what the page needs to style it. */
export interface ChatFailure {
	kind: 'rate_limit' | 'cap' | 'key' | 'quota' | 'stopped' | 'other';
	/** The server's machine code: `requests_per_hour`, `daily_cap`, `no_key`, `upstream_auth`, ... */
	code: string;
	message: string;
	/** When the limit that refused resets, if known (ISO 8601). */
	resetsAt: string | null;
	/** Part of an answer had arrived before the failure (it is kept). */
	partial: boolean;
}

export type ChatTurnResult =
	/** The stream ran to its `done` event (the answer may still carry a failure from an `error` event). */
	| { outcome: 'completed' }
	/** Refused before the answer started (HTTP 4xx/5xx with a JSON body). */
	| {
			outcome: 'refused';
			status: number;
			failure: ChatFailure;
			conversation: RefusedConversation | null;
			/** The failed answer as stored, so the next turn can follow it. */
			answerId: string | null;
	  }
	/** The person pressed Stop. */
	| { outcome: 'stopped' }
	/** The connection broke, or the server sent something unreadable. */
	| { outcome: 'failed'; failure: ChatFailure };

export interface RefusedConversation {
	id: string;
	title: string;
	isNew: boolean;
	/** The question as stored (null when regenerating). */
	userMessageId: string | null;
}

export interface ChatTurn {
	/** Stops reading and closes the connection; the server stops the provider and keeps the partial answer. */
	stop(): void;
	readonly result: Promise<ChatTurnResult>;
}

const RATE_LIMIT_CODES = new Set(['rate_limited', 'requests_per_hour', 'tokens_per_hour', 'upstream_rate_limited']);
const CAP_CODES = new Set(['spend_cap_reached', 'daily_cap', 'app_daily_cap']);
const KEY_CODES = new Set(['no_key', 'key_invalid', 'upstream_auth', 'upstream_forbidden']);
// A provider account out of credit is not our daily cap: it is fixed at the provider or on /keys.
const QUOTA_CODES = new Set(['upstream_quota', 'out_of_credit']);

/** Which kind of message a failure code deserves (how it is styled, whether it links to /keys). */
export function failureKind(code: string): ChatFailure['kind'] {
	if (RATE_LIMIT_CODES.has(code)) return 'rate_limit';
	if (CAP_CODES.has(code)) return 'cap';
	if (KEY_CODES.has(code)) return 'key';
	if (QUOTA_CODES.has(code)) return 'quota';
	if (code === 'client_aborted') return 'stopped';
	return 'other';
}

function resetsAtOf(
	details: Record<string, unknown> | null,
	retryAfterSeconds: number | null,
	now: number
): string | null {
	if (typeof details?.resetsAt === 'string' && !Number.isNaN(Date.parse(details.resetsAt))) return details.resetsAt;
	if (retryAfterSeconds !== null && retryAfterSeconds > 0)
		return new Date(now + retryAfterSeconds * 1000).toISOString();
	return null;
}

/** An in-stream `error` event as a `ChatFailure`. */
export function failureFromEvent(event: ErrorEvent, now = Date.now()): ChatFailure {
	const code = event.reason ?? event.code;
	return {
		kind: failureKind(code),
		code,
		message: event.message,
		resetsAt: resetsAtOf(event.details, event.retryAfterSeconds, now),
		partial: event.partial
	};
}

/** A stored failed turn (a reload of the conversation) as a `ChatFailure`. */
export function failureFromStored(code: string, message: string | null, partial: boolean): ChatFailure {
	return {
		kind: failureKind(code),
		code,
		message: message ?? 'This answer failed.',
		resetsAt: null,
		partial
	};
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
	typeof value === 'object' && value !== null && !Array.isArray(value);

/** The JSON body of a refused request: `{error:{code,message,details}, conversation:{id,title,isNew}}`. */
async function refusalOf(response: Response, now: number): Promise<Extract<ChatTurnResult, { outcome: 'refused' }>> {
	const body: unknown = await response.json().catch(() => null);
	const error = isRecord(body) && isRecord(body.error) ? body.error : {};
	const code = typeof error.code === 'string' ? error.code : `http_${response.status}`;
	const message =
		typeof error.message === 'string' && error.message
			? error.message
			: `The server answered ${response.status}. Try again in a moment.`;
	const retryAfter = Number(response.headers.get('retry-after'));
	const conversation =
		isRecord(body) &&
		isRecord(body.conversation) &&
		typeof body.conversation.id === 'string' &&
		typeof body.conversation.title === 'string'
			? {
					id: body.conversation.id,
					title: body.conversation.title,
					isNew: body.conversation.isNew === true,
					userMessageId: typeof body.conversation.userMessageId === 'string' ? body.conversation.userMessageId : null
				}
			: null;
	return {
		outcome: 'refused',
		status: response.status,
		failure: {
			kind: failureKind(code),
			code,
			message,
			resetsAt: resetsAtOf(
				isRecord(error.details) ? error.details : null,
				Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
				now
			),
			partial: false
		},
		conversation,
		answerId: isRecord(body) && typeof body.answerId === 'string' ? body.answerId : null
	};
}

const connectionLost = (message: string): ChatFailure => ({
	kind: 'other',
	code: 'connection_lost',
	message,
	resetsAt: null,
	partial: false
});

/**
 * Starts one chat turn. `onEvent` sees every event in order; the returned `result` settles when
 * the turn is over, however it ended. Never rejects.
 */
export function startChatTurn(
	request: ChatTurnRequest,
	onEvent: (event: ChatStreamEvent) => void,
	options: { fetch?: typeof fetch } = {}
): ChatTurn {
	const controller = new AbortController();
	const fetchImpl = options.fetch ?? fetch;
	let stopped = false;

	const run = async (): Promise<ChatTurnResult> => {
		let sawDone = false;
		try {
			const response = await fetchImpl('/api/chat', {
				method: 'POST',
				headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
				body: JSON.stringify(request),
				signal: controller.signal
			});
			if (!response.ok) return await refusalOf(response, Date.now());
			if (!response.body) return { outcome: 'failed', failure: connectionLost('The server sent an empty answer.') };
			for await (const event of parseChatStream(response.body)) {
				if (event.type === 'done') sawDone = true;
				onEvent(event);
			}
		} catch (error) {
			if (stopped) return { outcome: 'stopped' };
			const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
			return {
				outcome: 'failed',
				failure: connectionLost(
					offline
						? 'You are offline. The answer stopped; try again when you are back online.'
						: `The connection to the server broke (${error instanceof Error ? error.message : 'network error'}). Try again.`
				)
			};
		}
		if (stopped && !sawDone) return { outcome: 'stopped' };
		return sawDone
			? { outcome: 'completed' }
			: { outcome: 'failed', failure: connectionLost('The answer ended unexpectedly. Try again.') };
	};

	return {
		stop() {
			stopped = true;
			controller.abort();
		},
		result: run()
	};
}
