import { requireAdmin } from '$lib/server/admin';
import { httpErrorResponse } from '$lib/server/errors';
import { exportUsageCsv, resolveUsageExport } from '$lib/server/usage';
import type { RequestHandler } from './$types';

/** Usage as CSV for finance, streamed: admins only (401 signed out, 403 and audited otherwise). */
export const GET: RequestHandler = async ({ locals, url, request }) => {
	try {
		const { services } = locals;
		const admin = await requireAdmin({
			db: services.db,
			log: locals.log,
			user: locals.user,
			path: url.pathname,
			method: request.method,
			ip: locals.clientIp || null
		});
		// `check=1`: the admin page asks whether the filters are good before the browser downloads.
		if (url.searchParams.get('check') === '1') {
			await resolveUsageExport(services.db, Object.fromEntries(url.searchParams));
			return new Response(null, { status: 204 });
		}
		const { filename, body } = await exportUsageCsv(
			{ db: services.db, kind: services.dbHandle.kind, log: locals.log },
			{ userId: admin.id, ip: locals.clientIp || null },
			Object.fromEntries(url.searchParams)
		);
		return new Response(body, {
			headers: {
				'content-type': 'text/csv; charset=utf-8',
				'content-disposition': `attachment; filename="${filename}"`
			}
		});
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
