import { listUsers, requireAdminPage } from '$lib/server/admin';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async (event) => {
	await requireAdminPage(event);
	const query = event.url.searchParams;
	const page = Number(query.get('page') ?? '1');
	return {
		directory: await listUsers(event.locals.services.db, {
			search: query.get('q') ?? undefined,
			// A hand-edited page number that is not one shows the first page.
			page: Number.isInteger(page) && page >= 1 && page <= 1_000_000 ? page : 1
		})
	};
};
