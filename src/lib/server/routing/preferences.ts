import { z } from 'zod';
import type { Kysely } from 'kysely';
import { providers, type Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { parseInput } from '$lib/server/validation';

/** Per-provider "fall back to the app key" switch; on unless the user turned it off. */

export async function fallbackPreferences(db: Kysely<Database>, userId: string): Promise<Record<Provider, boolean>> {
	const rows = await db
		.selectFrom('routing_preferences')
		.select(['provider', 'allow_fallback'])
		.where('user_id', '=', userId)
		.execute();
	const result = Object.fromEntries(providers.map((p) => [p, true])) as Record<Provider, boolean>;
	for (const row of rows) result[row.provider] = row.allow_fallback;
	return result;
}

export const setFallbackInput = z
	.object({
		provider: z.enum(['openai', 'anthropic', 'google', 'openrouter'], {
			errorMap: () => ({ message: 'provider must be one of openai, anthropic, google, openrouter.' })
		}),
		allowFallback: z.boolean({
			required_error: 'allowFallback is required.',
			invalid_type_error: 'allowFallback must be true or false.'
		})
	})
	.strict();

export async function setFallbackPreference(
	db: Kysely<Database>,
	userId: string,
	input: unknown
): Promise<{ provider: Provider; allowFallback: boolean }> {
	const { provider, allowFallback } = parseInput(setFallbackInput, input);
	await db
		.insertInto('routing_preferences')
		.values({ user_id: userId, provider, allow_fallback: allowFallback })
		.onConflict((oc) =>
			oc.columns(['user_id', 'provider']).doUpdateSet({ allow_fallback: allowFallback, updated_at: new Date() })
		)
		.execute();
	return { provider, allowFallback };
}
