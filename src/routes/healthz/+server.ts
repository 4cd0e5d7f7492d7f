import { json } from '@sveltejs/kit';
import { checkDatabase } from '$lib/server/db/health';
import type { RequestHandler } from './$types';

/** Liveness and readiness for load balancers: 200 when the database answers, 503 otherwise. */
export const GET: RequestHandler = async ({ locals }) => {
	const database = await checkDatabase(locals.services.db);
	return json(
		{ status: database ? 'ok' : 'degraded', database: database ? 'up' : 'down' },
		{ status: database ? 200 : 503 }
	);
};
