import { sequence } from '@sveltejs/kit/hooks';
import type { Handle, ServerInit } from '@sveltejs/kit';
import {
	csrfHandle,
	databaseUnavailableHandle,
	handleServerError,
	initServer,
	requestLogHandle,
	securityHeadersHandle,
	sessionHandle,
	trpcHandle
} from '$lib/server/http';

export const init: ServerInit = initServer;
export const handle: Handle = sequence(
	requestLogHandle,
	securityHeadersHandle,
	sessionHandle,
	databaseUnavailableHandle,
	csrfHandle,
	trpcHandle
);
export const handleError = handleServerError;
