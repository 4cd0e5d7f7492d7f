import { render, screen } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import AddKeyForm from '$lib/components/keys/AddKeyForm.svelte';
import type { KeyActionResult, ProviderPanel, SourceLimitView } from '$lib/components/keys/types';

vi.mock('$app/navigation', () => ({ invalidateAll: async () => {} }));

const limits: SourceLimitView = {
	dailyCapMicros: 5_000_000,
	ceilingDailyCapMicros: 5_000_000,
	usedTodayMicros: 0,
	requestsPerHour: 100,
	ceilingRequestsPerHour: 100,
	requestsThisHour: 0,
	weeklyCapMicros: null,
	ceilingWeeklyCapMicros: null,
	usedThisWeekMicros: 0,
	monthlyCapMicros: null,
	ceilingMonthlyCapMicros: null,
	usedThisMonthMicros: 0,
	paused: false,
	pausedUntil: null
};

const openaiPanel: ProviderPanel = {
	provider: 'openai',
	key: {
		id: '5b0c7c1e-4a8e-4a4f-9d55-1f0c1a2b3c4d',
		provider: 'openai',
		label: null,
		last4: 'Wx7Q',
		status: 'valid',
		isActive: true,
		createdAt: new Date('2026-03-01T09:00:00Z'),
		lastUsedAt: null,
		lastValidatedAt: null,
		lastErrorCode: null,
		disabledByAdmin: false,
		expiresAt: null,
		expired: false,
		position: 0,
		pinned: false
	},
	keys: [],
	allowFallback: true,
	own: limits,
	app: limits,
	usage: { own: { requests: 0, costMicros: 0 }, app: { requests: 0, costMicros: 0 } },
	modelCaps: []
};

const saved: KeyActionResult = {
	action: 'add',
	provider: 'openai',
	ok: true,
	message: 'Saved: OpenAI accepted this key.'
};

describe('AddKeyForm', () => {
	it('says a new key replaces the saved one while the provider has a key', () => {
		const { container } = render(AddKeyForm, { panels: [openaiPanel], selectedProvider: 'openai' });
		expect(container.textContent).toContain('This replaces your current OpenAI key (••••Wx7Q)');
	});

	it('confirms a save instead of offering to replace the key just saved', () => {
		const { container } = render(AddKeyForm, { panels: [openaiPanel], selectedProvider: 'openai', result: saved });
		expect(screen.getByRole('status').textContent).toContain('Saved');
		expect(container.textContent).not.toContain('This replaces');
	});
});
