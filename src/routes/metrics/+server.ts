import { metricsAccessAllowed } from '$lib/server/metrics';
import type { RequestHandler } from './$types';

/** Prometheus scrape endpoint; `Authorization: Bearer <METRICS_TOKEN>` when that is set. */
export const GET: RequestHandler = async ({ request, locals }) => {
	const { config, metrics } = locals.services;
	if (!metricsAccessAllowed(request.headers.get('authorization'), config.metricsToken)) {
		return new Response('Unauthorized: send Authorization: Bearer <METRICS_TOKEN>.\n', {
			status: 401,
			headers: { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer realm="metrics"' }
		});
	}
	return new Response(await metrics.render(), {
		headers: { 'content-type': metrics.contentType, 'cache-control': 'no-store' }
	});
};
