import { z } from 'zod';
import { usdToMicros } from '$lib/money';
import { oneLineName } from '$lib/server/validation';
import { MAX_SCOPE_PATTERNS, SCOPE_PATTERN } from './token-scope';

export const MAX_ACTIVE_TOKENS_PER_USER = 20;
export const MAX_TOKEN_NAME_LENGTH = 100;
export const MAX_TOKEN_LIFETIME_DAYS = 365;
export const MAX_TOKEN_BUDGET_USD = 10_000;

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

const patternMessage =
	'Each model pattern is a model id such as "openai/gpt-4o-mini", or a prefix ending in one "*" such as "openai/*" or "anthropic/claude-sonnet-4*".';

/** Trimmed, deduplicated patterns; an empty list means no scope (every model). */
const modelScopeSchema = z
	.array(
		z
			.string({ invalid_type_error: patternMessage })
			.transform((value) => value.trim())
			.pipe(z.string().regex(SCOPE_PATTERN, patternMessage)),
		{ invalid_type_error: 'modelScope must be a list of model patterns.' }
	)
	.max(MAX_SCOPE_PATTERNS, `A token can name at most ${MAX_SCOPE_PATTERNS} model patterns.`)
	.transform((patterns) => (patterns.length === 0 ? null : [...new Set(patterns)]));

/**
 * USD as a JSON number with at most 6 decimals (a micro-dollar). Not transformed: tRPC parses the
 * input and `createAccessToken` parses it again, so the amount turns into micro-dollars there.
 */
function budgetUsd(field: string) {
	const message = `${field} must be an amount in US dollars from 0 to ${MAX_TOKEN_BUDGET_USD.toLocaleString('en-US')} with at most 6 decimals, or left out for no budget.`;
	return z
		.number({ invalid_type_error: message })
		.finite(message)
		.min(0, message)
		.max(MAX_TOKEN_BUDGET_USD, message)
		.refine((usd) => usdToMicros(usd) !== undefined, message)
		.nullish();
}

export const createAccessTokenInput = z
	.object({
		name: tokenNameSchema,
		/** Omitted or null: the token does not expire. */
		expiresInDays: z
			.number({ invalid_type_error: daysMessage })
			.int(daysMessage)
			.min(1, daysMessage)
			.max(MAX_TOKEN_LIFETIME_DAYS, daysMessage)
			.nullish(),
		/** Omitted, null or empty: every model. */
		modelScope: modelScopeSchema.nullish(),
		/** Omitted or null: no daily budget of its own (the account's caps still apply). */
		dailyBudgetUsd: budgetUsd('dailyBudgetUsd'),
		monthlyBudgetUsd: budgetUsd('monthlyBudgetUsd')
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
