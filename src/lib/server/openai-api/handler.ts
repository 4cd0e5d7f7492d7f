import { authenticateBearer, bearerOf, scopeAllows } from '$lib/server/auth';
import { httpErrorOf, httpErrorResponse, isAppError } from '$lib/server/errors';
import { closeAfterDraining, readJsonBody, refuseDeclaredOversize } from '$lib/server/http';
import type { IncomingMessage } from 'node:http';
import { listModelsForUser, refuseAfterPrincipal, startChat, type ChatDeps, type Principal } from '$lib/server/routing';
import { parseCompletionRequest } from './request';
import { completionMeta, modelListBody } from './responses';
import { completionResponse, completionStream } from './stream';

/**
 * The OpenAI-compatible API (`/api/v1`). Authentication is a personal access token in
 * `Authorization: Bearer lk_…` only: session cookies are ignored, because this API is for tools
 * and has no CSRF protection (none is needed without ambient credentials). Requests go through
 * the same engine as the web chat (routing, fallback, limits, caps, one usage record each, with
 * `api = 'openai'`). Every error is OpenAI-shaped (`httpErrorOf`).
 */

/**
 * Request bodies of the OpenAI-compatible API: room for inline (base64) images of up to 5 MB. A
 * body is also bounded by adapter-node's `BODY_SIZE_LIMIT` (1 MB by default), whose 413 we answer
 * in OpenAI's shape; operators who take large images raise it.
 */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/**
 * Up to this size a body is read before its token is checked (one statement then checks the token
 * with everything else); a larger or undeclared one is read only for a valid token, so nobody
 * without a token makes us buffer megabytes.
 */
export const UNAUTHENTICATED_BODY_BYTES = 512 * 1024;

const declaredLength = (headers: Headers) => {
	const header = headers.get('content-length');
	return header === null ? Number.NaN : Number(header);
};

export interface OpenAiApiContext {
	deps: ChatDeps;
	requestId: string;
	/** Aborts when the client goes away (defaults to the request's own signal). */
	signal?: AbortSignal;
	/** adapter-node's request, to drain a refused body from (absent outside adapter-node). */
	incoming?: IncomingMessage;
}

/**
 * The error answer. When the request body was not read to its end (refused before reading, or
 * too large), the rest is drained and the connection closed after the answer.
 */
async function failure(ctx: OpenAiApiContext, error: unknown, request?: Request): Promise<Response> {
	if (httpErrorOf(error).status >= 500 && !isAppError(error)) {
		ctx.deps.log.error({ err: error, requestId: ctx.requestId }, 'OpenAI-compatible API request failed');
	}
	const response = httpErrorResponse(error, ctx.requestId);
	return request ? await closeAfterDraining(response, request, ctx.incoming) : response;
}

/** Logs a failed write of a token's `last_used_at` (it runs after the request went on). */
function touchFailed(ctx: OpenAiApiContext) {
	return (error: unknown, tokenId: string) =>
		ctx.deps.log.warn({ err: error, tokenId, requestId: ctx.requestId }, "recording an access token's last use failed");
}

/** `POST /api/v1/chat/completions`. */
export async function handleChatCompletions(ctx: OpenAiApiContext, request: Request): Promise<Response> {
	let bodyRead = false;
	try {
		// Cheapest first: a declared oversize body or a missing token is refused before anything is
		// read or queried.
		refuseDeclaredOversize(request.headers, MAX_BODY_BYTES);
		const principal: Principal = {
			kind: 'token',
			bearer: bearerOf(request.headers.get('authorization')),
			onTouchFailed: touchFailed(ctx)
		};
		// A request that is wrong in itself is still answered 401 first when its token is.
		const unlessUnauthorized = (error: unknown) => refuseAfterPrincipal(ctx.deps.db, principal, error);
		if (!(declaredLength(request.headers) <= UNAUTHENTICATED_BODY_BYTES)) {
			await authenticateBearer(ctx.deps.db, request.headers.get('authorization'), touchFailed(ctx));
		}
		const body = await readJsonBody(request, MAX_BODY_BYTES).catch(unlessUnauthorized);
		bodyRead = true;
		let input: ReturnType<typeof parseCompletionRequest>;
		try {
			input = parseCompletionRequest(body);
		} catch (error) {
			return await unlessUnauthorized(error);
		}
		const meta = completionMeta(ctx.requestId, input.model);
		const session = await startChat(ctx.deps, {
			principal,
			modelId: input.model,
			messages: input.messages,
			maxOutputTokens: input.maxOutputTokens,
			options: input.options,
			stream: input.stream,
			api: 'openai',
			requestId: ctx.requestId,
			signal: ctx.signal ?? request.signal
		});
		const headers: Record<string, string> = {
			'x-key-source': session.keySource,
			'x-request-id': ctx.requestId,
			...(session.fallback ? { 'x-fallback-reason': session.fallback.reason } : {})
		};
		const options = { includeUsage: input.includeUsage, requestId: ctx.requestId, log: ctx.deps.log };
		if (!input.stream) return await completionResponse(session, meta, { ...options, headers });
		return new Response(completionStream(session, meta, options), {
			headers: {
				'content-type': 'text/event-stream; charset=utf-8',
				'cache-control': 'no-store',
				'x-accel-buffering': 'no',
				...headers
			}
		});
	} catch (error) {
		return await failure(ctx, error, !bodyRead && request.body !== null ? request : undefined);
	}
}

/** `GET /api/v1/models`: the models the token's owner can use now, within the token's scope (OpenAI requires a key here too). */
export async function handleListModels(ctx: OpenAiApiContext, request: Request): Promise<Response> {
	try {
		const owner = await authenticateBearer(ctx.deps.db, request.headers.get('authorization'), touchFailed(ctx));
		const options = (await listModelsForUser(ctx.deps.db, ctx.deps.config, owner.userId)).filter((option) =>
			scopeAllows(owner.modelScope, option.id)
		);
		return new Response(JSON.stringify(modelListBody(options)), { headers: { 'content-type': 'application/json' } });
	} catch (error) {
		return await failure(ctx, error);
	}
}
