import { TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { AppError, isAppError, type AppErrorCode } from '$lib/server/errors';
import { isDatabaseUnavailable } from '$lib/server/db';
import { validationError } from '$lib/server/validation';

type TRPCCode = TRPCError['code'];

const TRPC_CODE: Record<AppErrorCode, TRPCCode> = {
	bad_request: 'BAD_REQUEST',
	unauthorized: 'UNAUTHORIZED',
	forbidden: 'FORBIDDEN',
	not_found: 'NOT_FOUND',
	conflict: 'CONFLICT',
	payload_too_large: 'PAYLOAD_TOO_LARGE',
	unsupported_media_type: 'BAD_REQUEST',
	rate_limited: 'TOO_MANY_REQUESTS',
	// tRPC 10 has no 402; PRECONDITION_FAILED (412) plus `data.appCode` tells clients what happened.
	spend_cap_reached: 'PRECONDITION_FAILED',
	out_of_credit: 'PRECONDITION_FAILED',
	upstream_error: 'INTERNAL_SERVER_ERROR',
	unavailable: 'INTERNAL_SERVER_ERROR',
	internal: 'INTERNAL_SERVER_ERROR'
};

/** Any error a procedure raised, as the AppError the client will see. */
export function appErrorOf(error: unknown): AppError {
	const cause = error instanceof TRPCError ? (error.cause ?? error) : error;
	if (isAppError(cause)) return cause;
	if (cause instanceof ZodError) return validationError(cause);
	if (error instanceof TRPCError && error.code !== 'INTERNAL_SERVER_ERROR') {
		return new AppError(fromTRPCCode(error.code), error.message);
	}
	if (isDatabaseUnavailable(cause)) {
		return new AppError(
			'unavailable',
			'The service is temporarily unavailable (database unreachable). Try again shortly.',
			{
				retryAfterSeconds: 5
			}
		);
	}
	return new AppError(
		'internal',
		'Something went wrong on our side. Try again; if it keeps happening, quote the request id.'
	);
}

function fromTRPCCode(code: TRPCCode): AppErrorCode {
	switch (code) {
		case 'UNAUTHORIZED':
			return 'unauthorized';
		case 'FORBIDDEN':
			return 'forbidden';
		case 'NOT_FOUND':
			return 'not_found';
		case 'CONFLICT':
			return 'conflict';
		case 'TOO_MANY_REQUESTS':
			return 'rate_limited';
		case 'PAYLOAD_TOO_LARGE':
			return 'payload_too_large';
		default:
			return 'bad_request';
	}
}

export function toTRPCError(error: AppError): TRPCError {
	return new TRPCError({ code: TRPC_CODE[error.code], message: error.message, cause: error });
}
