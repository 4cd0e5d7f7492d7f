import { z } from 'zod';
import { PROVIDER_IDS } from '$lib/providers';
import { oneLineName } from '$lib/server/validation';

const PROVIDER_MESSAGE = `provider must be one of ${PROVIDER_IDS.join(', ')}.`;

export const providerSchema = z.enum(PROVIDER_IDS, {
	errorMap: () => ({ message: PROVIDER_MESSAGE })
});

/** Generous: the precise length rule (with a message naming the provider's shape) comes after. */
const MAX_RAW_KEY_LENGTH = 100_000;
export const MAX_LABEL_LENGTH = 64;

/** LibreChat's choices; a custom moment goes in `expiresAt`. */
export const EXPIRY_CHOICES = ['12h', '1d', '7d', 'never'] as const;
export type ExpiryChoice = (typeof EXPIRY_CHOICES)[number];

/** A minute's margin, so the app's and the database's clocks cannot disagree on "future". */
const MIN_EXPIRY_LEAD_MS = 60_000;
const MAX_EXPIRY_LEAD_MS = 10 * 366 * 24 * 3600_000;
const EXPIRES_AT_MESSAGE = 'expiresAt must be a date and time with its time zone, e.g. 2026-12-31T18:00:00Z.';

const expiresAtSchema = z
	.union(
		[
			z.date({ invalid_type_error: EXPIRES_AT_MESSAGE }),
			z.string().datetime({ offset: true, message: EXPIRES_AT_MESSAGE }).pipe(z.coerce.date())
		],
		{
			errorMap: () => ({ message: EXPIRES_AT_MESSAGE })
		}
	)
	// A value the union refused has its own message; these judge dates only.
	.refine((date) => !(date instanceof Date) || date.getTime() >= Date.now() + MIN_EXPIRY_LEAD_MS, {
		message: 'That expiry is in the past (or less than a minute away): pick a later moment.'
	})
	.refine((date) => !(date instanceof Date) || date.getTime() <= Date.now() + MAX_EXPIRY_LEAD_MS, {
		message: 'An expiry can be at most 10 years away; choose "never" instead.'
	});

/** `expiresIn` or `expiresAt` (null: never), not both; neither means "never" when saving a key. */
const expiryFields = {
	expiresIn: z
		.enum(EXPIRY_CHOICES, { errorMap: () => ({ message: `expiresIn must be one of ${EXPIRY_CHOICES.join(', ')}.` }) })
		.optional(),
	expiresAt: expiresAtSchema.nullable().optional()
};

function oneExpiry(value: { expiresIn?: unknown; expiresAt?: unknown }, ctx: z.RefinementCtx): void {
	if (value.expiresIn !== undefined && value.expiresAt !== undefined) {
		ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'Send either expiresIn or expiresAt, not both.' });
	}
}

export const upsertKeyInput = z
	.object({
		...expiryFields,
		provider: providerSchema,
		apiKey: z
			.string({ required_error: 'Paste your API key.', invalid_type_error: 'apiKey must be text.' })
			.max(MAX_RAW_KEY_LENGTH, 'That is far too long for an API key: paste only the key itself.'),
		label: z
			.string({ invalid_type_error: 'label must be text.' })
			.max(1000, `Labels can be at most ${MAX_LABEL_LENGTH} characters.`)
			.transform((value) => value.trim())
			.pipe(
				oneLineName(z.string().max(MAX_LABEL_LENGTH, `Labels can be at most ${MAX_LABEL_LENGTH} characters.`), 'Labels')
			)
			.nullish(),
		/** Replace this key (absent: the provider's first key, or none yet). */
		replaceKeyId: z.string().uuid('replaceKeyId must be a key id from keys.list.').optional(),
		/** Keep the provider's keys and try this one after them. */
		add: z.literal(true, { errorMap: () => ({ message: 'add must be true or left out.' }) }).optional()
	})
	.strict()
	.superRefine(oneExpiry)
	.superRefine((value, ctx) => {
		if (value.add && value.replaceKeyId) {
			ctx.addIssue({ code: 'custom', path: ['add'], message: 'Send either add or replaceKeyId, not both.' });
		}
	});

const keyId = z
	.string({ required_error: 'id is required.', invalid_type_error: 'id must be a key id from keys.list.' })
	.uuid('id must be a key id from keys.list.');

export const keyIdInput = z.object({ id: keyId }).strict();

/** At most this many keys per provider. */
export const MAX_KEYS_PER_PROVIDER = 5;

export const reorderKeysInput = z
	.object({
		provider: providerSchema,
		keyIds: z
			.array(keyId, { required_error: 'keyIds lists the provider’s keys in the order to try them.' })
			.min(1)
			.max(MAX_KEYS_PER_PROVIDER)
			.refine((ids) => new Set(ids).size === ids.length, 'Each key may appear once.')
	})
	.strict();

export const setPinnedInput = z
	.object({ id: keyId, pinned: z.boolean({ required_error: 'pinned must be true or false.' }) })
	.strict();

export const setActiveInput = z
	.object({
		id: keyId,
		active: z.boolean({ required_error: 'active is required.', invalid_type_error: 'active must be true or false.' })
	})
	.strict();

export const setExpiryInput = z
	.object({ id: keyId, ...expiryFields })
	.strict()
	.superRefine(oneExpiry)
	.refine((value) => value.expiresIn !== undefined || value.expiresAt !== undefined, {
		message: `Send expiresIn (${EXPIRY_CHOICES.join(', ')}) or expiresAt (a date and time, or null for never).`,
		path: ['expiresIn']
	});

export type UpsertKeyInput = z.infer<typeof upsertKeyInput>;
export type KeyIdInput = z.infer<typeof keyIdInput>;
export type SetActiveInput = z.infer<typeof setActiveInput>;
export type SetExpiryInput = z.infer<typeof setExpiryInput>;
