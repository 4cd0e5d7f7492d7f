import { describe, expect, it } from 'vitest';
import { planRoute, type RoutableModel, type UserKeyState } from '$lib/server/routing/plan';
import type { ProviderId } from '$lib/server/providers';

const gpt: RoutableModel = { provider: 'openai', providerModel: 'gpt-4o-mini', openRouterId: 'openai/gpt-4o-mini' };
const llama: RoutableModel = {
	provider: 'openrouter',
	providerModel: 'meta-llama/llama-3.3-70b-instruct',
	openRouterId: 'meta-llama/llama-3.3-70b-instruct'
};

const keys = (...list: Array<[ProviderId, UserKeyState['status']]>) =>
	new Map(list.map(([provider, status]) => [provider, { keyId: `${provider}-key`, provider, status }]));

const summary = (plan: ReturnType<typeof planRoute>) =>
	plan.attempts.map((a) => `${a.keySource}:${a.servedBy}:${a.upstreamModel}`);

describe('planRoute', () => {
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
