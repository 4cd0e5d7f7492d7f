import { isDatabaseUnavailable } from './db/errors';

/**
 * Typed errors every domain throws, mapped once to HTTP (OpenAI-shaped bodies) in `httpErrorOf`
 * and to tRPC codes in `trpc/errors.ts`. Messages are written for the user and never contain key
 * material, SQL or stack traces; anything unexpected becomes a generic 500 with a request id.
 */

export type AppErrorCode =
	| 'bad_request'
	| 'unauthorized'
	| 'forbidden'
	| 'not_found'
	| 'conflict'
	| 'payload_too_large'
	| 'unsupported_media_type'
	| 'rate_limited'
	| 'spend_cap_reached'
	| 'out_of_credit'
	| 'upstream_error'
	| 'unavailable'
	| 'internal';

const STATUS: Record<AppErrorCode, number> = {
	bad_request: 400,
	unauthorized: 401,
	forbidden: 403,
	not_found: 404,
	conflict: 409,
	payload_too_large: 413,
	unsupported_media_type: 415,
	rate_limited: 429,
	spend_cap_reached: 402,
	// The user's own provider account has no credit left: only they can pay, so not a 502.
	out_of_credit: 402,
	upstream_error: 502,
	unavailable: 503,
	internal: 500
};

/** OpenAI's `error.type` vocabulary, which OpenAI clients switch on. */
const OPENAI_TYPE: Record<AppErrorCode, string> = {
	bad_request: 'invalid_request_error',
	unauthorized: 'authentication_error',
	forbidden: 'permission_error',
	not_found: 'invalid_request_error',
	conflict: 'invalid_request_error',
	payload_too_large: 'invalid_request_error',
	unsupported_media_type: 'invalid_request_error',
	rate_limited: 'rate_limit_error',
	spend_cap_reached: 'insufficient_quota',
	out_of_credit: 'insufficient_quota',
	upstream_error: 'upstream_error',
	unavailable: 'service_unavailable',
	internal: 'server_error'
};

export interface AppErrorOptions {
	/** A more specific machine code for clients, e.g. `invalid_key_format`, `requests_per_hour`. */
	reason?: string;
	retryAfterSeconds?: number;
	/** Safe, structured facts for the client (which limit, when it resets). Never key material. */
	details?: Record<string, unknown>;
	cause?: unknown;
}

export class AppError extends Error {
	override name = 'AppError';
	readonly reason: string | undefined;
	readonly retryAfterSeconds: number | undefined;
	readonly details: Record<string, unknown> | undefined;

	constructor(
		readonly code: AppErrorCode,
		message: string,
		options: AppErrorOptions = {}
	) {
		super(message, options.cause === undefined ? undefined : { cause: options.cause });
		this.reason = options.reason;
		this.retryAfterSeconds = options.retryAfterSeconds;
		this.details = options.details;
	}

	get status(): number {
		return STATUS[this.code];
	}
}

export const badRequest = (message: string, options?: AppErrorOptions) => new AppError('bad_request', message, options);
export const notFound = (message = 'Not found.') => new AppError('not_found', message);
export const forbidden = (message = 'You do not have access to this.') => new AppError('forbidden', message);
export const unauthorized = (message = 'Sign in to continue.') => new AppError('unauthorized', message);

export function isAppError(error: unknown): error is AppError {
	return error instanceof AppError;
}

export interface HttpError {
	status: number;
	headers: Record<string, string>;
	body: { error: { type: string; code: string; message: string; param: string | null; request_id?: string } };
}

/**
 * Where OpenAI itself answers with another `type`/`code` than our generic mapping, OpenAI clients
 * expect OpenAI's: a bad or missing API key is `invalid_request_error` / `invalid_api_key`.
 */
const OPENAI_BY_REASON: Record<string, { type: string; code: string }> = {
	missing_token: { type: 'invalid_request_error', code: 'invalid_api_key' },
	invalid_token: { type: 'invalid_request_error', code: 'invalid_api_key' }
};

/** OpenAI's `param`: the request field at fault (`details.param`, else a validation's `field`). */
function paramOf(details: Record<string, unknown> | undefined): string | null {
	const param = details?.param ?? details?.field;
	return typeof param === 'string' && param !== '' ? param : null;
}

/**
 * The one mapping from any thrown value to an HTTP error response. Unknown errors become a
 * generic 500 (or 503 when the database is unreachable) whose message carries nothing internal.
 */
export function httpErrorOf(
	error: unknown,
	requestId?: string,
	isUnavailable: (e: unknown) => boolean = isDatabaseUnavailable
): HttpError {
	const appError = isAppError(error)
		? error
		: isUnavailable(error)
			? new AppError(
					'unavailable',
					'The service is temporarily unavailable (database unreachable). Try again shortly.',
					{
						retryAfterSeconds: 5
					}
				)
			: new AppError(
					'internal',
					'Something went wrong on our side. Try again; if it keeps happening, quote the request id.'
				);
	const headers: Record<string, string> = { 'content-type': 'application/json' };
	if (appError.retryAfterSeconds !== undefined)
		headers['retry-after'] = String(Math.max(1, Math.ceil(appError.retryAfterSeconds)));
	const openAi = appError.reason === undefined ? undefined : OPENAI_BY_REASON[appError.reason];
	return {
		status: appError.status,
		headers,
		body: {
			error: {
				type: openAi?.type ?? OPENAI_TYPE[appError.code],
				code: openAi?.code ?? appError.reason ?? appError.code,
				message: appError.message,
				param: paramOf(appError.details),
				...(requestId ? { request_id: requestId } : {})
			}
		}
	};
}

export function httpErrorResponse(
	error: unknown,
	requestId?: string,
	isUnavailable?: (e: unknown) => boolean
): Response {
	const { status, headers, body } = httpErrorOf(error, requestId, isUnavailable);
	return new Response(JSON.stringify(body), { status, headers });
}
