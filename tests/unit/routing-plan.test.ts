import { describe, expect, it } from 'vitest';
import {
	keysByProvider,
	ownKeyProviders,
	planRoute,
	type RoutableModel,
	type UserKeyState
} from '$lib/server/routing/plan';
import { MODELS } from '$lib/server/catalog';
import type { ProviderId } from '$lib/server/providers';

const gpt: RoutableModel = { provider: 'openai', providerModel: 'gpt-4o-mini', openRouterId: 'openai/gpt-4o-mini' };
const llama: RoutableModel = {
	provider: 'openrouter',
	providerModel: 'meta-llama/llama-3.3-70b-instruct',
	openRouterId: 'meta-llama/llama-3.3-70b-instruct'
};

const keys = (...list: Array<[ProviderId, UserKeyState['status']]>) =>
	keysByProvider(list.map(([provider, status]) => ({ keyId: `${provider}-key`, provider, status })));

const summary = (plan: ReturnType<typeof planRoute>) =>
	plan.attempts.map((a) => `${a.keySource}:${a.servedBy}:${a.upstreamModel}`);

describe('planRoute', () => {
	it('tries the provider’s keys in the person’s order, then OpenRouter keys, then the app key', () => {
		const plan = planRoute({
			model: gpt,
			userKeys: keysByProvider([
				{ keyId: 'second', provider: 'openai', status: 'valid', position: 1 },
				{ keyId: 'router', provider: 'openrouter', status: 'valid', position: 0 },
				{ keyId: 'first', provider: 'openai', status: 'valid', position: 0 },
				{ keyId: 'broken', provider: 'openai', status: 'invalid', position: 2 }
			]),
			allowFallback: true,
			appKeyConfigured: true
		});
		expect(plan.attempts.map((a) => (a.key.kind === 'user' ? a.key.keyId : 'app'))).toEqual([
			'first',
			'second',
			'router',
			'app'
		]);
		expect(plan.skipped).toBeNull();
	});

	it('never goes past a key marked "always use", unless it cannot be used', () => {
		const ids = (pinnedStatus: UserKeyState['status']) =>
			planRoute({
				model: gpt,
				userKeys: keysByProvider([
					{ keyId: 'first', provider: 'openai', status: 'valid', position: 0 },
					{ keyId: 'pinned', provider: 'openai', status: pinnedStatus, position: 1, pinned: true },
					{ keyId: 'third', provider: 'openai', status: 'valid', position: 2 }
				]),
				allowFallback: true,
				appKeyConfigured: true
			}).attempts.map((a) => (a.key.kind === 'user' ? a.key.keyId : 'app'));
		expect(ids('valid')).toEqual(['first', 'pinned']);
		expect(ids('invalid')).toEqual(['first', 'third', 'app']);
	});

	it('names the first key’s reason when none of the provider’s keys can serve', () => {
		const plan = planRoute({
			model: gpt,
			userKeys: keysByProvider([
				{ keyId: 'a', provider: 'openai', status: 'valid', expired: true, position: 0 },
				{ keyId: 'b', provider: 'openai', status: 'invalid', position: 1 }
			]),
			allowFallback: true,
			appKeyConfigured: true
		});
		expect(plan.skipped).toBe('key_expired');
		expect(summary(plan)).toEqual(['app:openrouter:openai/gpt-4o-mini']);
	});

	it('uses the user’s own key first, then the app key', () => {
		const plan = planRoute({
			model: gpt,
			userKeys: keys(['openai', 'valid']),
			allowFallback: true,
			appKeyConfigured: true
		});
		expect(summary(plan)).toEqual(['user:openai:gpt-4o-mini', 'app:openrouter:openai/gpt-4o-mini']);
		expect(plan.skipped).toBeNull();
	});

	it('tries an unverified key (the provider may have been down when it was checked)', () => {
		const plan = planRoute({
			model: gpt,
			userKeys: keys(['openai', 'unverified']),
			allowFallback: false,
			appKeyConfigured: true
		});
		expect(summary(plan)).toEqual(['user:openai:gpt-4o-mini']);
	});

	it('skips an invalid key and says why', () => {
		const plan = planRoute({
			model: gpt,
			userKeys: keys(['openai', 'invalid']),
			allowFallback: true,
			appKeyConfigured: true
		});
		expect(summary(plan)).toEqual(['app:openrouter:openai/gpt-4o-mini']);
		expect(plan.skipped).toBe('key_invalid');
	});

	it('skips an expired key like an invalid one, and says it expired', () => {
		const expired = (status: UserKeyState['status']) =>
			keysByProvider([{ keyId: 'openai-key', provider: 'openai' as const, status, expired: true }]);
		for (const status of ['valid', 'unverified', 'invalid'] as const) {
			const plan = planRoute({ model: gpt, userKeys: expired(status), allowFallback: true, appKeyConfigured: true });
			expect(summary(plan)).toEqual(['app:openrouter:openai/gpt-4o-mini']);
			expect(plan.skipped).toBe('key_expired');
		}
		const refused = planRoute({ model: gpt, userKeys: expired('valid'), allowFallback: false, appKeyConfigured: true });
		expect(refused).toEqual({ attempts: [], skipped: 'key_expired' });
	});

	it('serves any model with the user’s own OpenRouter key before the app key', () => {
		const plan = planRoute({
			model: gpt,
			userKeys: keys(['openrouter', 'valid']),
			allowFallback: true,
			appKeyConfigured: true
		});
		expect(summary(plan)).toEqual(['user:openrouter:openai/gpt-4o-mini', 'app:openrouter:openai/gpt-4o-mini']);
		expect(plan.skipped).toBe('no_key');
	});

	it('offers nothing when there is no key and fallback is off or the app has no key', () => {
		expect(planRoute({ model: gpt, userKeys: keys(), allowFallback: false, appKeyConfigured: true }).attempts).toEqual(
			[]
		);
		expect(planRoute({ model: gpt, userKeys: keys(), allowFallback: true, appKeyConfigured: false }).attempts).toEqual(
			[]
		);
	});

	it('routes OpenRouter’s own models through OpenRouter only', () => {
		const own = planRoute({
			model: llama,
			userKeys: keys(['openrouter', 'valid'], ['openai', 'valid']),
			allowFallback: true,
			appKeyConfigured: true
		});
		expect(summary(own)).toEqual([
			'user:openrouter:meta-llama/llama-3.3-70b-instruct',
			'app:openrouter:meta-llama/llama-3.3-70b-instruct'
		]);
		const none = planRoute({
			model: llama,
			userKeys: keys(['openai', 'valid']),
			allowFallback: true,
			appKeyConfigured: true
		});
		expect(summary(none)).toEqual(['app:openrouter:meta-llama/llama-3.3-70b-instruct']);
		expect(none.skipped).toBe('no_key');
	});
});

describe("ownKeyProviders (the API admits for the user's own key by it, before planning)", () => {
	const providers: ProviderId[] = ['openai', 'anthropic', 'google', 'openrouter'];
	const states: Array<UserKeyState['status'] | 'none'> = ['none', 'valid', 'unverified', 'invalid'];

	it("says the plan starts with the user's own key exactly when the user has a usable key of one of them, for every model and every set of keys", () => {
		let cases = 0;
		for (const model of MODELS) {
			const own = ownKeyProviders(model);
			// Every combination of a state per provider (4^4).
			for (let combination = 0; combination < states.length ** providers.length; combination++) {
				const list: Array<[ProviderId, UserKeyState['status']]> = [];
				providers.forEach((provider, i) => {
					const state = states[Math.floor(combination / states.length ** i) % states.length]!;
					if (state !== 'none') list.push([provider, state]);
				});
				const userKeys = keys(...list);
				const usableOwnKey = list.some(([provider, status]) => own.includes(provider) && status !== 'invalid');
				for (const allowFallback of [true, false]) {
					const plan = planRoute({ model, userKeys, allowFallback, appKeyConfigured: true });
					expect(plan.attempts[0]?.keySource === 'user', `${model.id} ${JSON.stringify(list)}`).toBe(usableOwnKey);
					cases++;
				}
			}
		}
		expect(cases).toBe(MODELS.length * 256 * 2);
	});
});
