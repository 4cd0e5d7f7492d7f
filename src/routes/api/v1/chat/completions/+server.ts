import { randomUUID } from 'node:crypto';
import { handleChatCompletions } from '$lib/server/openai-api';
import { chatDeps } from '$lib/server/services';
import type { RequestHandler } from './$types';

export const POST: RequestHandler = ({ request, locals }) => {
	// The request id keys the limits reservation and the usage record, so it must be unique: a
	// client-chosen x-request-id, repeated, would reuse an old admission and skip the limits.
	locals.requestId = randomUUID();
	return handleChatCompletions({ deps: chatDeps(locals.services), requestId: locals.requestId }, request);
};
