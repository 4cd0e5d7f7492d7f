import { error, fail } from '@sveltejs/kit';
import {
	adminLimitsFromForm,
	deactivateKey,
	deactivateUserKeys,
	formText,
	getUserDetails,
	requireAdminPage
} from '$lib/server/admin';
import { isAppError } from '$lib/server/errors';
import { PROVIDER_DISPLAY_NAMES } from '$lib/server/keys';
import { adminSetLimitsInput, setAdminLimits } from '$lib/server/limits';
import { parseInput } from '$lib/server/validation';
import { MAX_EXPORT_DAYS } from '$lib/server/usage';
import type { Actions, PageServerLoad } from './$types';

const PROVIDER_NAMES: Record<string, string> = PROVIDER_DISPLAY_NAMES;

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

export const actions: Actions = {
	disableKey: async (event) => {
		const admin = await requireAdminPage(event);
		const form = await event.request.formData();
		try {
			const result = await deactivateKey(
				event.locals.services.db,
				{ keyId: formText(form, 'keyId') },
				{ actorUserId: admin.id, ip: event.locals.clientIp || null }
			);
			const name = `${PROVIDER_NAMES[result.key.provider]} key …${result.key.last4}`;
			return {
				action: 'disableKey' as const,
				failed: false,
				message: result.changed ? `Switched off the ${name}.` : `The ${name} was already off.`
			};
		} catch (failure) {
			if (!isAppError(failure)) throw failure;
			return fail(failure.status, { action: 'disableKey' as const, failed: true, message: failure.message });
		}
	},

	disableAllKeys: async (event) => {
		const admin = await requireAdminPage(event);
		try {
			const { deactivated } = await deactivateUserKeys(
				event.locals.services.db,
				{ userId: event.params.id },
				{ actorUserId: admin.id, ip: event.locals.clientIp || null }
			);
			const names = deactivated.map((k) => `${PROVIDER_NAMES[k.provider]} …${k.last4}`).join(', ');
			return {
				action: 'disableAllKeys' as const,
				failed: false,
				message:
					deactivated.length === 0
						? 'No key was on; nothing changed.'
						: `Switched off ${deactivated.length} ${deactivated.length === 1 ? 'key' : 'keys'}: ${names}.`
			};
		} catch (failure) {
			if (!isAppError(failure)) throw failure;
			return fail(failure.status, { action: 'disableAllKeys' as const, failed: true, message: failure.message });
		}
	},

	setLimits: async (event) => {
		const admin = await requireAdminPage(event);
		const form = await event.request.formData();
		const provider = formText(form, 'provider');
		try {
			const { services } = event.locals;
			const input = parseInput(adminSetLimitsInput, adminLimitsFromForm(form, event.params.id));
			await setAdminLimits(services.db, services.config.limitDefaults, input, {
				actorUserId: admin.id,
				ip: event.locals.clientIp || null
			});
			return {
				action: 'setLimits' as const,
				failed: false,
				provider,
				field: null,
				message: `Saved the ${PROVIDER_NAMES[provider] ?? provider} limits.`
			};
		} catch (failure) {
			if (!isAppError(failure)) throw failure;
			const field = typeof failure.details?.field === 'string' ? failure.details.field : null;
			return fail(failure.status, {
				action: 'setLimits' as const,
				failed: true,
				provider,
				message: failure.message,
				field
			});
		}
	}
};
