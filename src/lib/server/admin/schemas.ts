import { z } from 'zod';
import { providers, type Provider } from '$lib/server/config';
import { AUDIT_ACTIONS } from '$lib/server/audit';
import { userText } from '$lib/server/validation';

/** Inputs of the `admin` router (and the admin pages, which parse the same shapes). */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const uuid = (field: string, what: string) =>
	z.string({ required_error: `${field} is required.`, invalid_type_error: `${field} must be ${what}.` }).uuid({
		message: `${field} must be ${what}.`
	});

const providerField = z.enum(providers as [Provider, ...Provider[]], {
	errorMap: () => ({ message: `provider must be one of ${providers.join(', ')}.` })
});

/** An email address or a user id; empty means "no filter". */
export const userReference = (field: string) =>
	userText(z.string({ invalid_type_error: `${field} must be an email address or a user id.` }), field)
		.trim()
		.max(320, `${field} must be an email address or a user id.`)
		.refine((v) => v === '' || UUID.test(v) || v.includes('@'), `${field} must be an email address or a user id.`)
		.optional()
		.transform((v) => (v ? v : undefined));

export const isUuid = (value: string) => UUID.test(value);

export const MAX_USERS_PAGE_SIZE = 100;

export const adminUsersInput = z
	.object({
		/** Part of an email address, case-insensitive. */
		search: userText(z.string({ invalid_type_error: 'search must be text.' }), 'search')
			.trim()
			.max(320, 'search can be at most 320 characters.')
			.optional()
			.transform((v) => (v ? v : undefined)),
		page: z
			.number({ invalid_type_error: 'page must be a number.' })
			.int('page must be a whole number.')
			.min(1, 'page must be at least 1.')
			.max(1_000_000, 'page is too large.')
			.default(1),
		pageSize: z
			.number({ invalid_type_error: 'pageSize must be a number.' })
			.int('pageSize must be a whole number.')
			.min(1, 'pageSize must be at least 1.')
			.max(MAX_USERS_PAGE_SIZE, `pageSize can be at most ${MAX_USERS_PAGE_SIZE}.`)
			.default(25)
	})
	.strict()
	.default({});
export type AdminUsersInput = z.input<typeof adminUsersInput>;

export const adminUserInput = z.object({ id: uuid('id', 'a user id') }).strict();

export const adminDisableKeyInput = z.object({ keyId: uuid('keyId', 'a key id') }).strict();
export const adminEnableKeyInput = adminDisableKeyInput;

export const adminDisableAllKeysInput = z
	.object({ userId: uuid('userId', 'a user id'), provider: providerField.optional() })
	.strict();

/** One provider's keys of every user; `dryRun` is required so a real run is never an accident. */
export const adminBulkKeysInput = z
	.object({
		provider: providerField,
		dryRun: z.boolean({
			required_error: 'dryRun is required: true only counts, false changes the keys.',
			invalid_type_error: 'dryRun must be true or false.'
		})
	})
	.strict();

export const MAX_AUDIT_VIEW_PAGE = 200;

export const adminAuditLogInput = z
	.object({
		action: z
			.union([z.enum(AUDIT_ACTIONS), z.literal('')], {
				errorMap: () => ({ message: 'action must be one of the audited actions.' })
			})
			.optional()
			.transform((v) => (v ? v : undefined)),
		/** Whose data the entry concerns. */
		user: userReference('user'),
		/** Who acted. */
		actor: userReference('actor'),
		provider: z
			.union([providerField, z.literal('')], {
				errorMap: () => ({ message: `provider must be one of ${providers.join(', ')}.` })
			})
			.optional()
			.transform((v) => (v ? v : undefined)),
		from: z.union([z.date(), z.string()]).optional(),
		to: z.union([z.date(), z.string()]).optional(),
		/** The previous page's `nextCursor`. */
		cursor: z
			.number({ invalid_type_error: 'cursor must be a number.' })
			.int('cursor must be a whole number.')
			.positive('cursor must be positive.')
			.optional(),
		limit: z
			.number({ invalid_type_error: 'limit must be a number.' })
			.int('limit must be a whole number.')
			.min(1, 'limit must be at least 1.')
			.max(MAX_AUDIT_VIEW_PAGE, `limit can be at most ${MAX_AUDIT_VIEW_PAGE}.`)
			.default(50)
	})
	.strict()
	.default({});
export type AdminAuditLogInput = z.input<typeof adminAuditLogInput>;

export const adminAnalyticsInput = z
	.object({
		from: z.union([z.date(), z.string()]).optional(),
		to: z.union([z.date(), z.string()]).optional()
	})
	.strict()
	.default({});
export type AdminAnalyticsInput = z.input<typeof adminAnalyticsInput>;
