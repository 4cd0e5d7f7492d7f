import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import KeyCard from '$lib/components/keys/KeyCard.svelte';
import type { KeyView, ProviderPanel, SourceLimitView } from '$lib/components/keys/types';

// The card's buttons call tRPC procedures; this records which, with what input.
const { mutations } = vi.hoisted(() => ({ mutations: [] as { procedure: string; input: unknown }[] }));
vi.mock('$app/navigation', () => ({ invalidateAll: async () => {} }));
vi.mock('$lib/trpc', async (importOriginal) => {
	const actual = await importOriginal<typeof import('$lib/trpc')>();
	const client = (path: string[]): unknown =>
		new Proxy(() => {}, {
			get: (_target, name: string) =>
				name === 'mutate'
					? async (input: unknown) => {
							mutations.push({ procedure: path.join('.'), input });
							return { notice: 'Done.' };
						}
					: client([...path, name])
		});
	return { ...actual, trpc: () => client([]) };
});
beforeEach(() => {
	mutations.length = 0;
});

// A key never reaches the browser; the card only ever gets metadata. This string stands for
// what a careless implementation might leak, so the tests can look for it.
const SECRET_PART = 'proj-abcdefghijklmnop';
const NOW = new Date('2026-03-14T15:30:00Z');

function key(overrides: Partial<KeyView> = {}): KeyView {
	return {
		id: '5b0c7c1e-4a8e-4a4f-9d55-1f0c1a2b3c4d',
		provider: 'openai',
		label: 'Personal',
		last4: 'Wx7Q',
		status: 'valid',
		isActive: true,
		createdAt: new Date('2026-03-01T09:00:00Z'),
		lastUsedAt: new Date('2026-03-14T12:05:00Z'),
		lastValidatedAt: new Date('2026-03-14T08:00:00Z'),
		lastErrorCode: null,
		disabledByAdmin: false,
		expiresAt: null,
		expired: false,
		position: 0,
		pinned: false,
		...overrides
	};
}

function limits(overrides: Partial<SourceLimitView> = {}): SourceLimitView {
	return {
		dailyCapMicros: 5_000_000,
		ceilingDailyCapMicros: 5_000_000,
		usedTodayMicros: 120_000,
		requestsPerHour: 100,
		ceilingRequestsPerHour: 100,
		requestsThisHour: 3,
		weeklyCapMicros: null,
		ceilingWeeklyCapMicros: null,
		usedThisWeekMicros: 0,
		monthlyCapMicros: null,
		ceilingMonthlyCapMicros: null,
		usedThisMonthMicros: 0,
		paused: false,
		pausedUntil: null,
		...overrides
	};
}

function panel(overrides: Partial<ProviderPanel> = {}): ProviderPanel {
	const own = overrides.key === undefined ? key() : overrides.key;
	return {
		provider: 'openai',
		key: key(),
		keys: own ? [own] : [],
		allowFallback: true,
		own: limits(),
		app: limits({ dailyCapMicros: 500_000, ceilingDailyCapMicros: 500_000, usedTodayMicros: 0 }),
		usage: { own: { requests: 12, costMicros: 42_500 }, app: { requests: 0, costMicros: 0 } },
		modelCaps: [],
		...overrides
	};
}

const badge = () => screen.getByTestId('key-status').textContent?.trim();

describe('KeyCard', () => {
	it('shows a valid key with its label, ••••last4, last use, last validation and this month’s usage', () => {
		const { container } = render(KeyCard, { panel: panel(), now: NOW });
		expect(badge()).toBe('Valid');
		expect(screen.getByRole('heading', { name: 'OpenAI' })).toBeTruthy();
		expect(screen.getByText('Personal')).toBeTruthy();
		expect(container.textContent).toContain('••••Wx7Q');
		expect(screen.getByText('14 Mar 2026, 12:05 UTC')).toBeTruthy();
		expect(screen.getByText('14 Mar 2026, 08:00 UTC')).toBeTruthy();
		expect(container.textContent).toMatch(/12\s+requests · \$0\.0425/);
		expect(container.textContent).toContain('$0.12 of $5.00 today');
		expect(container.textContent).not.toContain(SECRET_PART);
	});

	it("does not call a key never used when this month's requests were another key's or refused", () => {
		render(KeyCard, { panel: panel({ key: key({ lastUsedAt: null }) }), now: NOW });
		expect(screen.getByText('Not yet by this key')).toBeTruthy();
		expect(screen.queryByText('Never')).toBeNull();
	});

	it('shows an invalid key with what the provider said at the last check', () => {
		const { container } = render(KeyCard, {
			panel: panel({ key: key({ status: 'invalid', lastErrorCode: 'http_401' }) }),
			now: NOW
		});
		expect(badge()).toBe('Invalid');
		expect(container.textContent).toContain('OpenAI rejected this key at the last check (401 Unauthorized).');
		expect(container.textContent).toContain('••••Wx7Q');
	});

	it('shows when a key expires, and an expired key as expired', () => {
		render(KeyCard, { panel: panel({ key: key({ expiresAt: new Date('2026-03-17T15:30:00Z') }) }), now: NOW });
		expect(screen.getByTestId('key-expiry').textContent).toBe('Expires in 3 days');
		cleanup();
		const { container } = render(KeyCard, {
			panel: panel({ key: key({ expiresAt: new Date('2026-03-14T09:00:00Z'), expired: true }) }),
			now: NOW
		});
		expect(badge()).toBe('Expired');
		expect(screen.getByTestId('key-expiry').textContent).toBe('Expired on 14 Mar 2026, 09:00 UTC');
		expect(container.textContent).toContain('This key expired on 14 Mar 2026, 09:00 UTC: requests do not use it');
	});

	it('shows an unverified key as not checked yet, with the reason', () => {
		const { container } = render(KeyCard, {
			panel: panel({ key: key({ status: 'unverified', lastValidatedAt: null, lastErrorCode: 'timeout' }) }),
			now: NOW
		});
		expect(badge()).toBe('Unverified');
		expect(container.textContent).toMatch(
			/Not checked yet: OpenAI could not be reached \(no answer within 10 seconds\)/
		);
		expect(screen.getByText('Not yet')).toBeTruthy();
	});

	it('shows a key whose daily cap is reached as paused until 00:00 UTC instead of valid', () => {
		const { container } = render(KeyCard, {
			panel: panel({
				own: limits({ usedTodayMicros: 5_000_000, paused: true, pausedUntil: new Date('2026-03-15T00:00:00Z') })
			}),
			now: NOW
		});
		expect(badge()).toBe('Paused');
		expect(container.textContent).toContain("today's $5.00 cap on your own key is reached");
		expect(container.textContent).toContain('Resumes at 00:00 UTC.');
		expect(container.textContent).toContain("Until then the app's key answers.");
	});

	it('shows a rejected key as invalid even when the cap is also reached', () => {
		render(KeyCard, {
			panel: panel({
				key: key({ status: 'invalid', lastErrorCode: 'http_403' }),
				own: limits({ paused: true, pausedUntil: new Date('2026-03-15T00:00:00Z') })
			}),
			now: NOW
		});
		expect(badge()).toBe('Invalid');
	});

	it('shows a switched-off key as inactive, with Activate instead of Deactivate', async () => {
		const { container } = render(KeyCard, { panel: panel({ key: key({ isActive: false }) }), now: NOW });
		expect(badge()).toBe('Inactive');
		expect(container.textContent).toContain('Switched off');
		expect(screen.getByRole('button', { name: 'Activate OpenAI key' })).toBeTruthy();
		expect(screen.queryByRole('button', { name: 'Deactivate OpenAI key' })).toBeNull();
		await fireEvent.click(screen.getByRole('button', { name: 'Activate OpenAI key' }));
		await waitFor(() =>
			expect(mutations).toEqual([
				{ procedure: 'keys.setActive', input: { id: '5b0c7c1e-4a8e-4a4f-9d55-1f0c1a2b3c4d', active: true } }
			])
		);
	});

	it('shows a key an admin switched off, without a way to switch it back on', () => {
		const { container } = render(KeyCard, {
			panel: panel({ key: key({ isActive: false, disabledByAdmin: true }) }),
			now: NOW
		});
		expect(badge()).toBe('Inactive');
		expect(container.textContent).toContain('Switched off by an admin');
		expect(screen.queryByRole('button', { name: 'Activate OpenAI key' })).toBeNull();
		expect(screen.getByRole('link', { name: 'Replace OpenAI key' })).toBeTruthy();
	});

	it('offers to add a key, with a link to the provider’s key page, when there is none', () => {
		render(KeyCard, { panel: panel({ provider: 'google', key: null }), now: NOW });
		expect(badge()).toBe('No key');
		expect(screen.getByRole('link', { name: 'Add a Google Gemini key' }).getAttribute('href')).toBe(
			'?provider=google#add-key'
		);
		const external = screen.getByRole('link', { name: /Create one on Google Gemini's site/ });
		expect(external.getAttribute('href')).toBe('https://aistudio.google.com/app/apikey');
		expect(external.getAttribute('rel')).toBe('noopener noreferrer');
		expect(screen.queryByRole('button', { name: /Test/ })).toBeNull();
	});

	it('asks for confirmation before removing a key', async () => {
		render(KeyCard, { panel: panel(), now: NOW });
		const summary = screen.getByText('Remove', { selector: 'summary' });
		const details = summary.closest('details');
		expect(details?.open).toBe(false);
		await fireEvent.click(summary);
		expect(details?.open).toBe(true);
		const confirm = within(details as HTMLElement);
		expect(confirm.getByText(/Remove your OpenAI key/).textContent).toContain('••••Wx7Q');
		expect(confirm.getByRole('button', { name: 'Yes, remove key' })).toBeTruthy();

		await fireEvent.click(confirm.getByRole('button', { name: 'Cancel' }));
		expect(details?.open).toBe(false);
		expect(document.activeElement).toBe(summary);
		expect(mutations).toEqual([]);

		await fireEvent.click(summary);
		await fireEvent.click(confirm.getByRole('button', { name: 'Yes, remove key' }));
		await waitFor(() =>
			expect(mutations).toEqual([{ procedure: 'keys.remove', input: { id: '5b0c7c1e-4a8e-4a4f-9d55-1f0c1a2b3c4d' } }])
		);
	});

	it('sends only the key id with Test, Deactivate and Remove', async () => {
		render(KeyCard, { panel: panel(), now: NOW });
		const id = '5b0c7c1e-4a8e-4a4f-9d55-1f0c1a2b3c4d';
		await fireEvent.click(screen.getByRole('button', { name: 'Test OpenAI key' }));
		await waitFor(() => expect(mutations).toHaveLength(1));
		await fireEvent.click(screen.getByRole('button', { name: 'Deactivate OpenAI key' }));
		await waitFor(() => expect(mutations).toHaveLength(2));
		await fireEvent.click(screen.getByText('Remove', { selector: 'summary' }));
		await fireEvent.click(screen.getByRole('button', { name: 'Yes, remove key' }));
		await waitFor(() =>
			expect(mutations).toEqual([
				{ procedure: 'keys.validate', input: { id } },
				{ procedure: 'keys.setActive', input: { id, active: false } },
				{ procedure: 'keys.remove', input: { id } }
			])
		);
	});

	it('shows the fallback switch’s state and the caps against today’s usage', async () => {
		render(KeyCard, { panel: panel({ allowFallback: false }), now: NOW });
		const toggle = screen.getByRole('switch', { name: "Fall back to the app's key" });
		expect(toggle.getAttribute('aria-checked')).toBe('false');
		expect((screen.getByLabelText('Daily cap on your key (USD)') as HTMLInputElement).value).toBe('5.00');
		expect((screen.getByLabelText("Daily cap on the app's key (USD)") as HTMLInputElement).value).toBe('0.50');
		expect((screen.getByLabelText('Requests per hour') as HTMLInputElement).value).toBe('100');
		await fireEvent.click(toggle);
		await waitFor(() =>
			expect(mutations).toEqual([
				{ procedure: 'models.setFallback', input: { provider: 'openai', allowFallback: true } }
			])
		);
	});

	it('shows a refused limit change as an alert on the field it is about', () => {
		render(KeyCard, {
			panel: panel(),
			now: NOW,
			result: {
				action: 'limits',
				provider: 'openai',
				ok: false,
				field: 'dailyCapUsd',
				message:
					'You can lower your OpenAI daily spending cap on your own key but not raise it above $5.00 (the default).'
			}
		});
		expect(screen.getByRole('alert').textContent).toContain('not raise it above $5.00');
		expect(screen.getByLabelText('Daily cap on your key (USD)').getAttribute('aria-invalid')).toBe('true');
	});
});
