import { handleListModels } from '$lib/server/openai-api';
import { chatDeps } from '$lib/server/services';
import type { RequestHandler } from './$types';

export const GET: RequestHandler = ({ request, locals }) =>
	handleListModels({ deps: chatDeps(locals.services, locals.log), requestId: locals.requestId }, request);
