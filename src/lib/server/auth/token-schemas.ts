import { z } from 'zod';
import { oneLineName } from '$lib/server/validation';

export const MAX_ACTIVE_TOKENS_PER_USER = 20;
export const MAX_TOKEN_NAME_LENGTH = 100;
export const MAX_TOKEN_LIFETIME_DAYS = 365;

const nameMessage = 'Give the token a name, such as "laptop" or "CI".';
const daysMessage = `expiresInDays must be a whole number of days from 1 to ${MAX_TOKEN_LIFETIME_DAYS}, or left out for a token that does not expire.`;

const tokenNameSchema = z
	.string({ required_error: nameMessage, invalid_type_error: nameMessage })
	.transform((value) => value.trim())
	.pipe(
		oneLineName(
			z
				.string()
				.min(1, nameMessage)
				.max(MAX_TOKEN_NAME_LENGTH, `Token names can be at most ${MAX_TOKEN_NAME_LENGTH} characters.`),
			'Token names'
		)
	);

export const createAccessTokenInput = z
	.object({
		name: tokenNameSchema,
		/** Omitted or null: the token does not expire. */
		expiresInDays: z
			.number({ invalid_type_error: daysMessage })
			.int(daysMessage)
			.min(1, daysMessage)
			.max(MAX_TOKEN_LIFETIME_DAYS, daysMessage)
			.nullish()
	})
	.strict();

export const revokeAccessTokenInput = z
	.object({
		id: z
			.string({ required_error: 'id is required.', invalid_type_error: 'id must be a token id.' })
			.uuid('id must be a token id.')
	})
	.strict();

export type CreateAccessTokenInput = z.input<typeof createAccessTokenInput>;
export type RevokeAccessTokenInput = z.input<typeof revokeAccessTokenInput>;
