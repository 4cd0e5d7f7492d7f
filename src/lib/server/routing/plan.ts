import type { KeySource } from '$lib/server/db';
import type { ProviderId } from '$lib/server/providers';

/**
 * Which keys may serve a request, in order of preference. Pure: the caller gathers the facts
 * (the user's keys, their fallback choice, whether the app has a key), so every rule here is
 * testable without a database.
 *
 * 1. the user's own keys for the model's provider, in the user's order, called directly;
 * 2. the user's own OpenRouter keys (they can serve every model in the catalog);
 * 3. the app's OpenRouter key, when the user allows fallback for that provider and the model is
 *    one the app serves (its price is known and the admin's rules allow it).
 * A key marked invalid or past its expiry is skipped; an `unverified` key is tried (the provider
 * may have been down when we checked it). A usable key marked "always use" ends the plan: nothing
 * after it is tried.
 */

export interface UserKeyState {
	keyId: string;
	provider: ProviderId;
	status: 'valid' | 'invalid' | 'unverified';
	/** Past its expiry by the database clock (`keyExpiredSql`); absent means it does not expire. */
	expired?: boolean;
	/** "Always use this key": when it is usable, no later key and no app key is tried. */
	pinned?: boolean;
}

export interface RoutableModel {
	provider: ProviderId;
	providerModel: string;
	/** The model's id on OpenRouter; for OpenRouter's own models the same as `providerModel`. */
	openRouterId: string | null;
	/** The app key may serve it (a known price, allowed by the admin); unset means yes. */
	appServable?: boolean;
}

export type AttemptKey = { kind: 'user'; keyId: string; provider: ProviderId } | { kind: 'app' };

export interface RouteAttempt {
	keySource: KeySource;
	/** The API that will be called. */
	servedBy: ProviderId;
	upstreamModel: string;
	key: AttemptKey;
}

/** The user's key an attempt calls; null for the app key. */
export const keyIdOf = (attempt: RouteAttempt): string | null =>
	attempt.key.kind === 'user' ? attempt.key.keyId : null;

/** Why the first choice (the user's own key for the provider) is not in the plan. */
export type SkippedChoice = 'no_key' | 'key_invalid' | 'key_expired';

export interface RoutePlan {
	attempts: RouteAttempt[];
	skipped: SkippedChoice | null;
}

export interface PlanInput {
	model: RoutableModel;
	/** The user's active keys by provider, in the user's order (inactive keys are left out by the caller). */
	userKeys: ReadonlyMap<ProviderId, readonly UserKeyState[]>;
	allowFallback: boolean;
	appKeyConfigured: boolean;
}

/**
 * The one key status routing never uses. With expiry it is the whole rule of `unusableBecause`;
 * the first statement's SQL filters on the same two facts (prepare.ts).
 */
export const UNUSABLE_KEY_STATUS = 'invalid' as const;

/** Why routing will not use this key, or null when it may. Expiry first: re-testing would not help. */
export function unusableBecause(key: Pick<UserKeyState, 'status' | 'expired'>): 'key_expired' | 'key_invalid' | null {
	if (key.expired) return 'key_expired';
	return key.status === UNUSABLE_KEY_STATUS ? 'key_invalid' : null;
}

export const usableKey = (key: UserKeyState | undefined): key is UserKeyState =>
	key !== undefined && unusableBecause(key) === null;

/** Why none of a provider's keys can serve: no key at all, or the first key's reason. */
function skippedOf(keys: readonly UserKeyState[] | undefined): SkippedChoice | null {
	if (!keys || keys.length === 0) return 'no_key';
	if (keys.some(usableKey)) return null;
	return unusableBecause(keys[0]!);
}

/**
 * The providers whose key of the user's serves `model` as the user's own key (rules 1 and 2), in
 * order. A plan starts with the user's own key exactly when one of them holds a usable key, which
 * lets the first statement admit for the user's key before planning.
 */
export function ownKeyProviders(model: RoutableModel): ProviderId[] {
	return [
		...(model.provider !== 'openrouter' ? [model.provider] : []),
		...(model.openRouterId ? ['openrouter' as const] : [])
	];
}

export function planRoute({ model, userKeys, allowFallback, appKeyConfigured }: PlanInput): RoutePlan {
	const skipped = skippedOf(userKeys.get(model.provider));
	const attempts: RouteAttempt[] = [];
	for (const provider of ownKeyProviders(model)) {
		const upstreamModel = provider === 'openrouter' ? (model.openRouterId ?? model.providerModel) : model.providerModel;
		for (const key of userKeys.get(provider) ?? []) {
			if (!usableKey(key)) continue;
			attempts.push({
				keySource: 'user',
				servedBy: provider,
				upstreamModel,
				key: { kind: 'user', keyId: key.keyId, provider }
			});
			// The person asked never to go past this key.
			if (key.pinned) return { attempts, skipped };
		}
	}
	if (model.openRouterId && model.appServable !== false && allowFallback && appKeyConfigured) {
		attempts.push({
			keySource: 'app',
			servedBy: 'openrouter',
			upstreamModel: model.openRouterId,
			key: { kind: 'app' }
		});
	}
	return { attempts, skipped };
}

/** A user's stored keys (metadata, in any order) as `planRoute` takes them. */
export function ownKeysOf(
	keys: readonly {
		id: string;
		provider: ProviderId;
		status: UserKeyState['status'];
		expired: boolean;
		pinned: boolean;
		position: number;
	}[]
): Map<ProviderId, UserKeyState[]> {
	return keysByProvider(
		keys.map((k) => ({
			keyId: k.id,
			provider: k.provider,
			status: k.status,
			expired: k.expired,
			pinned: k.pinned,
			position: k.position
		}))
	);
}

/** Keys by provider, each provider's in the user's order: the shape `planRoute` takes. */
export function keysByProvider<K extends UserKeyState & { position?: number }>(
	keys: readonly K[]
): Map<ProviderId, K[]> {
	const grouped = new Map<ProviderId, K[]>();
	for (const key of [...keys].sort((a, b) => (a.position ?? 0) - (b.position ?? 0))) {
		const list = grouped.get(key.provider) ?? [];
		list.push(key);
		grouped.set(key.provider, list);
	}
	return grouped;
}
