import type { AppError } from '$lib/server/errors';
import type { CatalogModel } from '$lib/server/catalog';
import { PROVIDER_LABELS, type ProviderError, type ProviderId } from '$lib/server/providers';
import type { RouteAttempt, SkippedChoice } from './plan';

/** Sentences people read when their answer came from another key than their first choice. */

export type FallbackReason =
	| SkippedChoice
	| 'key_rejected'
	| 'rate_limited'
	| 'quota'
	| 'upstream_error'
	| 'timeout'
	| 'network'
	| 'own_limit_reached';

const whoAnswered = (attempt: RouteAttempt) =>
	attempt.keySource === 'app' ? "the app's key answered" : `your ${PROVIDER_LABELS[attempt.servedBy]} key answered`;

export function skippedMessage(reason: SkippedChoice, provider: ProviderId, answered: RouteAttempt): string {
	const name = PROVIDER_LABELS[provider];
	switch (reason) {
		case 'no_key':
			return `You have no ${name} key, so ${whoAnswered(answered)}.`;
		case 'key_expired':
			return `Your ${name} key has expired, so ${whoAnswered(answered)}. Replace it or change its expiry on the API keys page.`;
		case 'key_invalid':
			return `Your ${name} key is marked invalid, so ${whoAnswered(answered)}. Replace or re-test it on the API keys page.`;
	}
}

export function fallbackReasonOf(error: ProviderError): FallbackReason {
	switch (error.failure) {
		case 'auth':
		case 'forbidden':
			return 'key_rejected';
		case 'rate_limited':
			return 'rate_limited';
		case 'quota':
			return 'quota';
		case 'timeout':
			return 'timeout';
		case 'network':
			return 'network';
		default:
			return 'upstream_error';
	}
}

export function fallbackMessage(failed: RouteAttempt, error: ProviderError, answered: RouteAttempt): string {
	const name = PROVIDER_LABELS[failed.servedBy];
	const status = error.status ? ` (${error.status})` : '';
	const nextOwnKey =
		failed.keySource === 'user' && answered.keySource === 'user' && failed.servedBy === answered.servedBy;
	const then = `so ${nextOwnKey ? `your next ${name} key answered` : whoAnswered(answered)}`;
	switch (error.failure) {
		case 'auth':
		case 'forbidden':
			return `${name} rejected your key${status}, ${then}. Your key is now marked invalid; replace it on the API keys page.`;
		case 'rate_limited':
			return `${name} rate-limited your key${status}, ${then}.`;
		case 'quota':
			return `Your ${name} account is out of credit or quota${status}, ${then}.`;
		case 'timeout':
			return `${name} did not answer in time, ${then}.`;
		default:
			return `${name} failed${status}, ${then}.`;
	}
}

export function ownLimitMessage(limitMessage: string, answered: RouteAttempt): string {
	return `${limitMessage.replace(/\.$/, '')}; ${whoAnswered(answered)}.`;
}

export interface Fallback {
	reason: FallbackReason;
	message: string;
}

/** Why attempt `index` serves instead of the first choice, or null when it is the first choice. */
export function describeFallback(
	model: CatalogModel,
	skipped: SkippedChoice | null,
	index: number,
	attempt: RouteAttempt,
	previous: { failure: { attempt: RouteAttempt; error: ProviderError } } | { refusal: AppError } | null
): Fallback | null {
	if (previous && 'failure' in previous) {
		const { attempt: failed, error } = previous.failure;
		return { reason: fallbackReasonOf(error), message: fallbackMessage(failed, error, attempt) };
	}
	if (previous) return { reason: 'own_limit_reached', message: ownLimitMessage(previous.refusal.message, attempt) };
	// The user's own key for this provider was not usable to begin with.
	if (index === 0 && skipped && (model.provider !== 'openrouter' || attempt.keySource === 'app')) {
		return { reason: skipped, message: skippedMessage(skipped, model.provider, attempt) };
	}
	return null;
}
