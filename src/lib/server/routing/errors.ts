import { AppError } from '$lib/server/errors';
import type { CatalogModel } from '$lib/server/catalog';
import type { KeySource } from '$lib/server/db';
import { PROVIDER_LABELS, type ProviderError } from '$lib/server/providers';
import { SERVER_SHUTDOWN } from './active';
import type { SkippedChoice } from './plan';

/** The AppErrors routing answers with; their wording is the user's. */

/** The limits refused this key source; the next one in the plan has limits of its own. */
export const isLimitRefusal = (error: AppError) =>
	error.code === 'rate_limited' ||
	error.code === 'spend_cap_reached' ||
	error.reason === 'request_exceeds_tokens_per_hour';

/** The server is shutting down (graceful shutdown stopped this request, or it arrived too late). */
export function serverRestarting(partial: boolean): AppError {
	return new AppError(
		'unavailable',
		partial
			? 'The server is restarting, so the answer was cut short; the part above is incomplete. Try again in a moment.'
			: 'The server is restarting. Try again in a moment.',
		{ reason: SERVER_SHUTDOWN, retryAfterSeconds: 2, details: { partial } }
	);
}

export function clientAborted(): AppError {
	return new AppError('bad_request', 'The request was cancelled.', { reason: 'client_aborted' });
}

export function noUsableKey(
	model: CatalogModel,
	skipped: SkippedChoice | null,
	allowFallback: boolean,
	appKeyConfigured: boolean
): AppError {
	const name = PROVIDER_LABELS[model.provider];
	const missing =
		skipped === 'key_invalid'
			? `Your ${name} key is marked invalid`
			: skipped === 'key_expired'
				? `Your ${name} key has expired`
				: `You have no ${name} key`;
	const why = !appKeyConfigured
		? 'and this server has no app key to fall back to. Add your key on the API keys page.'
		: !allowFallback
			? `and fallback to the app key is off for ${name}. Add a key on the API keys page, or turn fallback on.`
			: `and ${model.displayName} is not available through the app key. Add your key on the API keys page.`;
	return new AppError('bad_request', `${missing}, ${why}`, {
		reason: 'no_key',
		details: { provider: model.provider, model: model.id }
	});
}

/** The provider answered with an error; `keySource` is whose key it was (its account, its bill). */
export function upstreamError(error: ProviderError, keySource: KeySource): AppError {
	if (error.failure === 'quota' && keySource === 'user') return ownAccountOutOfCredit(error);
	const retryAfterSeconds = error.retryAfterSeconds;
	return new AppError(
		error.failure === 'timeout' || error.failure === 'overloaded' ? 'unavailable' : 'upstream_error',
		error.message,
		{
			reason: `upstream_${error.failure}`,
			...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
			details: { provider: error.provider, status: error.status ?? null }
		}
	);
}

/** Waiting will not help and another key of ours would not be theirs: they add credit, or change keys. */
function ownAccountOutOfCredit(error: ProviderError): AppError {
	const name = PROVIDER_LABELS[error.provider];
	const facts = [error.status === undefined ? undefined : `HTTP ${error.status}`, error.providerCode].filter(Boolean);
	return new AppError(
		'out_of_credit',
		`Your ${name} account is out of credit or quota${facts.length > 0 ? ` (${facts.join(', ')})` : ''}. ` +
			`Add credit with ${name}, or use another key on the API keys page.`,
		{ reason: 'upstream_quota', details: { provider: error.provider, status: error.status ?? null } }
	);
}

export function midStreamError(error: ProviderError, partial: boolean): AppError {
	const name = PROVIDER_LABELS[error.provider];
	return new AppError(
		'upstream_error',
		`${name} stopped in the middle of the answer (${error.failure.replace('_', ' ')})${partial ? '; the part above is incomplete' : ''}. Try again.`,
		{
			reason: `upstream_${error.failure}`,
			details: { provider: error.provider, partial }
		}
	);
}
