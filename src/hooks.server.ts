import { sequence } from '@sveltejs/kit/hooks';
import type { Handle, ServerInit } from '@sveltejs/kit';
import {
	csrfHandle,
	handleServerError,
	initServer,
	securityHeadersHandle,
	sessionHandle,
	trpcHandle
} from '$lib/server/http';

export const init: ServerInit = initServer;
export const handle: Handle = sequence(securityHeadersHandle, sessionHandle, csrfHandle, trpcHandle);
export const handleError = handleServerError;
