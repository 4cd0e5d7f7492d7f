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

export const upsertKeyInput = z
	.object({
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
			.nullish()
	})
	.strict();

const keyId = z
	.string({ required_error: 'id is required.', invalid_type_error: 'id must be a key id from keys.list.' })
	.uuid('id must be a key id from keys.list.');

export const keyIdInput = z.object({ id: keyId }).strict();

export const setActiveInput = z
	.object({
		id: keyId,
		active: z.boolean({ required_error: 'active is required.', invalid_type_error: 'active must be true or false.' })
	})
	.strict();

export type UpsertKeyInput = z.infer<typeof upsertKeyInput>;
export type KeyIdInput = z.infer<typeof keyIdInput>;
export type SetActiveInput = z.infer<typeof setActiveInput>;
