import { adminAuditLog, requireAdminPage, type AdminAuditPage } from '$lib/server/admin';
import { AUDIT_ACTIONS } from '$lib/server/audit';
import { isAppError } from '$lib/server/errors';
import type { PageServerLoad } from './$types';

const FILTERS = ['action', 'user', 'actor', 'provider', 'from', 'to'] as const;

export const load: PageServerLoad = async (event) => {
	await requireAdminPage(event);
	const query = event.url.searchParams;
	const filters = Object.fromEntries(FILTERS.map((name) => [name, query.get(name)?.trim() ?? ''])) as Record<
		(typeof FILTERS)[number],
		string
	>;
	const cursor = Number(query.get('cursor'));
	let page: AdminAuditPage = { entries: [], nextCursor: null };
	let problem: string | null = null;
	try {
		page = await adminAuditLog(event.locals.services.db, {
			...filters,
			...(Number.isSafeInteger(cursor) && cursor > 0 ? { cursor } : {}),
			limit: 50
		});
	} catch (error) {
		if (!isAppError(error) || error.code !== 'bad_request') throw error;
		problem = error.message;
	}
	return { filters, page, problem, actions: AUDIT_ACTIONS, paged: query.has('cursor') };
};
