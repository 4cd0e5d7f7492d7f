export { sessionHandle } from './session';
export { csrfHandle, isCrossSiteRequest } from './csrf';
export { securityHeadersHandle } from './headers';
export { trpcHandle, TRPC_PATH } from './trpc';
export { handleServerError } from './errors';
export { initServer } from './init';
export { requestLogHandle, plainRequestId } from './log';
export { databaseUnavailableHandle, UNAVAILABLE_MESSAGE } from './unavailable';
export { readJsonBody, refuseDeclaredOversize, closeAfter } from './body';
