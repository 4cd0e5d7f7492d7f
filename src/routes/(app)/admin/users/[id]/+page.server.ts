import { error } from '@sveltejs/kit';
import { getUserDetails, requireAdminPage } from '$lib/server/admin';
import { isAppError } from '$lib/server/errors';
import { MAX_EXPORT_DAYS } from '$lib/server/usage';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async (event) => {
	const admin = await requireAdminPage(event);
	const { db, config } = event.locals.services;
	try {
		return {
			details: await getUserDetails(db, config.limitDefaults, { id: event.params.id }),
			viewerId: admin.id,
			limitDefaults: config.limitDefaults,
			maxExportDays: MAX_EXPORT_DAYS
		};
	} catch (failure) {
		if (isAppError(failure) && (failure.code === 'not_found' || failure.code === 'bad_request')) {
			error(404, 'There is no user with that id.');
		}
		throw failure;
	}
};
