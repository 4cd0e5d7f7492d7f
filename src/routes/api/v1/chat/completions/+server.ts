import { clientSignal } from '$lib/server/http';
import { handleChatCompletions } from '$lib/server/openai-api';
import { chatDeps } from '$lib/server/services';
import type { RequestHandler } from './$types';

// locals.requestId is minted by the server for every request (http/log.ts), never taken from the
// client: it keys the limits reservation and the usage record.
export const POST: RequestHandler = ({ request, locals, platform }) =>
	handleChatCompletions(
		{
			deps: chatDeps(locals.services, locals.log),
			requestId: locals.requestId,
			signal: clientSignal(request, platform),
			incoming: platform?.req
		},
		request
	);
