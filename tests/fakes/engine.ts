// The provider-independent part of a fake: authentication, behaviours, streaming and logging.
// Each provider module supplies a Dialect: its routes, request parsing, and wire shapes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { keyTail, maskKey, type KeyEntry, type KeyRegistry, type ResolvedBehaviour } from './behaviours';
import { costUsd, findFakeModel, type FakeModel } from './catalog';
import { Exchange, isRecord, parseJson, readBody, type HeaderMap, type JsonReply } from './http';
import { defaultReply, splitIntoChunks, usageFor, type Usage } from './tokens';
import type { FakeRequest, ProviderName } from './types';
import { exampleOf, type ScriptedToolCall } from './features';

/** A chat request reduced to what the fakes need. */
export interface ChatCall {
	model: string;
	stream: boolean;
	/** Text of each prompt message, the system prompt first (it counts as one message). */
	promptTexts: string[];
	lastUserText: string;
	/** Whether a stream ends with usage (OpenAI: only with stream_options.include_usage). */
	includeUsage: boolean;
	/** The model calls this tool instead of answering in text (features.ts). */
	toolCall?: ScriptedToolCall;
	/** JSON output was asked for: the answer is an example of this schema ({} for any object). */
	jsonSchema?: unknown;
}

export type ChatParse = { call: ChatCall } | { error: JsonReply };

export type RouteMatch =
	/** Google names the model and streaming in the URL; the others in the body. */
	| { kind: 'chat'; model?: string; stream?: boolean }
	/** `open`: served without a key (OpenRouter's /models is public). */
	| { kind: 'models'; open?: boolean }
	| { kind: 'key' };

/** The frames of a stream, split so behaviours can cut it after the first content frame. */
export interface StreamPlan {
	/** Before the first content frame: role chunk, message_start, comments. */
	head: string[];
	/** One frame per reply chunk. */
	content: string[];
	/** After the content: finish, usage, [DONE] / message_delta, message_stop. */
	tail: string[];
}

/** Error answers in the provider's own shape. */
export interface ProviderErrors {
	missingKey(): JsonReply;
	invalidKey(maskedKey: string): JsonReply;
	forbidden(model: string | undefined): JsonReply;
	rateLimited(model: string | undefined, retryAfterSeconds: number): JsonReply;
	quota(): JsonReply;
	serverError(): JsonReply;
	unavailable(): JsonReply;
	modelNotFound(model: string): JsonReply;
	badRequest(message: string): JsonReply;
	routeNotFound(method: string, path: string): JsonReply;
}

export interface Dialect {
	provider: ProviderName;
	/** Path prefix on the shared server, e.g. '/openai'. */
	prefix: string;
	errors: ProviderErrors;
	/** The API key from the provider's real auth header(s); undefined if absent or empty. */
	readKey(req: IncomingMessage, url: URL): string | undefined;
	/** Headers every answer carries, e.g. a fresh request id. */
	responseHeaders(): HeaderMap;
	/** `path` is relative to the prefix. */
	route(method: string, path: string, url: URL): RouteMatch | undefined;
	parseChat(body: unknown, route: RouteMatch & { kind: 'chat' }, req: IncomingMessage): ChatParse;
	/** The non-stream answer; `usage` undefined means leave usage out. */
	completion(call: ChatCall, reply: string, usage: Usage | undefined): unknown;
	streamPlan(call: ChatCall, chunks: string[], usage: Usage | undefined): StreamPlan;
	/** A stream frame whose data is not valid JSON. */
	malformedFrame: string;
	/** A 200 body that is not valid JSON. */
	malformedBody: string;
	/** The in-stream error frame (with `code` as its machine code, if given), or 'cut' to reset the connection. */
	midstreamError(call: ChatCall, code?: string): string | 'cut';
	/** An error answer's body with `code` as its machine code. */
	withErrorCode(body: unknown, code: string): unknown;
	listModels(): unknown;
	/** OpenRouter's GET /key answer. */
	keyInfo?(key: string, entry: KeyEntry): unknown;
	/** Whether completed requests are charged to the key (OpenRouter reports spend on /key). */
	chargesKeys?: boolean;
}

export class RequestLog {
	readonly entries: FakeRequest[] = [];
	private seq = 0;

	open(init: Omit<FakeRequest, 'seq' | 'startedAt' | 'closedByClient' | 'completed'>): FakeRequest {
		this.seq += 1;
		const entry: FakeRequest = {
			seq: this.seq,
			...init,
			startedAt: Date.now(),
			closedByClient: false,
			completed: false
		};
		this.entries.push(entry);
		return entry;
	}

	clear(): void {
		this.entries.length = 0;
	}
}

export interface EngineState {
	keys: KeyRegistry;
	log: RequestLog;
}

/** Serve one request under the dialect's prefix. `path` is relative to the prefix. */
export async function serveProvider(
	dialect: Dialect,
	state: EngineState,
	req: IncomingMessage,
	res: ServerResponse,
	url: URL,
	path: string
): Promise<void> {
	const method = req.method ?? 'GET';
	const match = dialect.route(method, path, url);
	if (!match) {
		await readBody(req);
		sendDirect(res, dialect.errors.routeNotFound(method, url.pathname), dialect.responseHeaders());
		return;
	}
	const key = dialect.readKey(req, url);
	const keyEntry = state.keys.lookup(dialect.provider, key);
	const entry = state.log.open({
		provider: dialect.provider,
		kind: match.kind,
		method,
		path: url.pathname,
		model: match.kind === 'chat' ? match.model : undefined,
		key: keyTail(key),
		stream: match.kind === 'chat' && match.stream === true,
		behaviour: keyEntry?.behaviour.behaviour ?? 'unknown_key'
	});
	const exchange = new Exchange(req, res, entry);
	const turn: Turn = { dialect, exchange, key, keyEntry, headers: dialect.responseHeaders() };
	if (match.kind === 'chat') await serveChat(turn, match);
	else await serveCatalog(turn, match);
}

/** Everything one request's handling needs. */
interface Turn {
	dialect: Dialect;
	exchange: Exchange;
	key: string | undefined;
	keyEntry: KeyEntry | undefined;
	headers: HeaderMap;
}

function send(turn: Turn, reply: JsonReply): void {
	turn.exchange.sendJson({ ...reply, headers: { ...turn.headers, ...reply.headers } });
}

/** An error answer with the key's scripted `errorCode`, if it has one. */
function sendError(turn: Turn, reply: JsonReply): void {
	const code = turn.keyEntry?.behaviour.errorCode;
	send(turn, code === undefined ? reply : { ...reply, body: turn.dialect.withErrorCode(reply.body, code) });
}

/** Answer outside the log (unknown routes). */
function sendDirect(res: ServerResponse, reply: JsonReply, headers: HeaderMap): void {
	const text = JSON.stringify(reply.body);
	res.writeHead(reply.status, {
		...headers,
		...reply.headers,
		'content-type': 'application/json',
		'content-length': String(Buffer.byteLength(text))
	});
	res.end(text);
}

/** The auth answer a key gets, if it doesn't get through: missing, unknown, or 401/403 behaviour. */
function authFailure(turn: Turn, model?: string): JsonReply | undefined {
	const { errors } = turn.dialect;
	if (turn.key === undefined) return errors.missingKey();
	if (!turn.keyEntry) return errors.invalidKey(maskKey(turn.key));
	if (turn.keyEntry.behaviour.behaviour === '401') return errors.invalidKey(maskKey(turn.key));
	if (turn.keyEntry.behaviour.behaviour === '403') return errors.forbidden(model);
	return undefined;
}

/** The error answer a chat request gets from its key's behaviour, if any. */
function behaviourFailure(turn: Turn, behaviour: ResolvedBehaviour, model: string): JsonReply | undefined {
	const { errors } = turn.dialect;
	switch (behaviour.behaviour) {
		case '429':
			return errors.rateLimited(model, behaviour.retryAfterSeconds);
		case 'quota':
			return errors.quota();
		case '500':
			return errors.serverError();
		case '503':
			return errors.unavailable();
		default:
			return undefined;
	}
}

async function serveCatalog(turn: Turn, match: RouteMatch): Promise<void> {
	await readBody(turn.exchange.req);
	const { dialect } = turn;
	if (match.kind === 'models' && match.open) {
		send(turn, { status: 200, body: dialect.listModels() });
		return;
	}
	const denied = authFailure(turn);
	if (denied || !turn.keyEntry || turn.key === undefined) {
		sendError(turn, denied ?? dialect.errors.missingKey());
		return;
	}
	const behaviour = turn.keyEntry.behaviour.behaviour;
	if (behaviour === '500') return sendError(turn, dialect.errors.serverError());
	if (behaviour === '503') return sendError(turn, dialect.errors.unavailable());
	const body =
		match.kind === 'key' && dialect.keyInfo ? dialect.keyInfo(turn.key, turn.keyEntry) : dialect.listModels();
	send(turn, { status: 200, body });
}

async function serveChat(turn: Turn, match: RouteMatch & { kind: 'chat' }): Promise<void> {
	const { dialect, exchange } = turn;
	const parsedBody = parseJson(await readBody(exchange.req));
	if (parsedBody.ok) noteRequestedCall(exchange.entry, parsedBody.value);

	const denied = authFailure(turn, exchange.entry.model);
	if (denied || !turn.keyEntry) return sendError(turn, denied ?? dialect.errors.missingKey());
	if (!parsedBody.ok) return send(turn, dialect.errors.badRequest('The request body is not valid JSON.'));

	const parsed = dialect.parseChat(parsedBody.value, match, exchange.req);
	if ('error' in parsed) return send(turn, parsed.error);
	const call = parsed.call;
	exchange.entry.model = call.model;
	exchange.entry.stream = call.stream;
	const model = findFakeModel(dialect.provider, call.model);
	if (!model) return send(turn, dialect.errors.modelNotFound(call.model));

	const behaviour = turn.keyEntry.behaviour;
	if (!(await exchange.sleep(behaviour.firstByteDelayMs))) return;
	const failure = behaviourFailure(turn, behaviour, call.model);
	if (failure) return sendError(turn, failure);
	if (behaviour.behaviour === 'reset_before') {
		// The connection dies before a single response byte, headers included (stream or not).
		await exchange.cutConnection();
		return;
	}

	// A tool call's arguments are its output (and its usage); JSON mode answers an example.
	const reply =
		call.toolCall?.arguments ??
		(call.jsonSchema === undefined ? undefined : JSON.stringify(exampleOf(call.jsonSchema))) ??
		behaviour.reply ??
		defaultReply(dialect.provider, call.model, call.lastUserText);
	const usage = withTokenKinds(usageFor(call.promptTexts, reply), behaviour);
	const reportedUsage = behaviour.behaviour === 'no_usage' ? undefined : (behaviour.reportUsage ?? usage);
	const delivered = call.stream
		? await streamReply(turn, call, reply, reportedUsage)
		: await answerOnce(turn, call, reply, reportedUsage);
	if (delivered) chargeKey(turn, model, usage);
}

/** Log body, model and stream as asked, even if the request is then refused. */
function noteRequestedCall(entry: FakeRequest, body: unknown): void {
	entry.body = body;
	if (!isRecord(body)) return;
	if (typeof body.model === 'string') entry.model = body.model;
	if (body.stream === true) entry.stream = true;
}

/** Non-stream answer; resolves true if a normal reply was sent. */
async function answerOnce(turn: Turn, call: ChatCall, reply: string, usage: Usage | undefined): Promise<boolean> {
	const { dialect, exchange } = turn;
	switch (turn.keyEntry?.behaviour.behaviour) {
		case 'reset':
			await exchange.cutConnection();
			return false;
		case 'malformed':
			exchange.sendText(200, dialect.malformedBody, 'application/json', turn.headers);
			return false;
		default:
			send(turn, { status: 200, body: dialect.completion(call, reply, usage) });
			return true;
	}
}

/** Stream answer; resolves true if the whole stream was sent. */
async function streamReply(turn: Turn, call: ChatCall, reply: string, usage: Usage | undefined): Promise<boolean> {
	const { dialect, exchange } = turn;
	const behaviour = turn.keyEntry?.behaviour;
	if (!behaviour) return false;
	const plan = dialect.streamPlan(call, splitIntoChunks(reply, behaviour.wordsPerChunk), usage);
	const [firstContent, ...restContent] = plan.content;

	exchange.startEventStream(turn.headers);
	if (!(await writeFrames(exchange, plan.head, 0))) return false;
	if (!(await exchange.sleep(behaviour.firstTokenDelayMs))) return false;
	if (firstContent !== undefined && !(await exchange.write(firstContent))) return false;

	switch (behaviour.behaviour) {
		case 'reset':
			await exchange.cutConnection();
			return false;
		case 'malformed':
			await exchange.write(dialect.malformedFrame);
			exchange.end();
			return false;
		case 'midstream_error':
			await endWithError(exchange, dialect.midstreamError(call, behaviour.errorCode));
			return false;
	}
	if (!(await writeFrames(exchange, restContent, behaviour.chunkDelayMs))) return false;
	if (!(await exchange.sleep(behaviour.chunkDelayMs))) return false;
	if (!(await writeFrames(exchange, plan.tail, 0))) return false;
	exchange.end();
	return true;
}

async function endWithError(exchange: Exchange, errorFrame: string): Promise<void> {
	if (errorFrame === 'cut') return exchange.cutConnection();
	await exchange.write(errorFrame);
	exchange.end();
}

/** Write frames with a delay before each; false as soon as the client is gone. */
async function writeFrames(exchange: Exchange, frames: string[], delayMs: number): Promise<boolean> {
	for (const frame of frames) {
		if (!(await exchange.sleep(delayMs))) return false;
		if (!(await exchange.write(frame))) return false;
	}
	return true;
}

function chargeKey(turn: Turn, model: FakeModel, usage: Usage): void {
	if (!turn.dialect.chargesKeys || !turn.keyEntry) return;
	turn.keyEntry.spentUsd += costUsd(model.price, usage.promptTokens, usage.completionTokens);
}

/** The key's cache reads/writes (within the prompt) and reasoning (added to the output). */
function withTokenKinds(usage: Usage, behaviour: ResolvedBehaviour): Usage {
	const read = Math.min(behaviour.cachedReadTokens ?? 0, usage.promptTokens);
	const written = Math.min(behaviour.cacheWriteTokens ?? 0, usage.promptTokens - read);
	const reasoning = behaviour.reasoningTokens ?? 0;
	return {
		...usage,
		completionTokens: usage.completionTokens + reasoning,
		...(read ? { cachedReadTokens: read } : {}),
		...(written ? { cacheWriteTokens: written } : {}),
		...(reasoning ? { reasoningTokens: reasoning } : {})
	};
}
