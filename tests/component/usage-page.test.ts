import { render } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import UsagePage from '../../src/routes/(app)/usage/+page.svelte';

const now = new Date('2026-03-14T15:30:00Z');
const summary = {
	period: 'month' as const,
	from: new Date('2026-03-01T00:00:00Z'),
	to: now,
	totals: [],
	byModel: [],
	requests: 0,
	costMicros: 0,
	ownKeyCostMicros: 1_250_000,
	appKeyCostMicros: 0,
	savingsMicros: 1_250_000
};

function renderPage() {
	const data = {
		period: 'month',
		summary,
		monthSavingsMicros: 1_250_000,
		monthCostMicros: 1_250_000,
		daily: { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-03-15T00:00:00Z'), days: [] },
		limits: { now, hourResetsAt: now, dayResetsAt: new Date('2026-03-15T00:00:00Z'), providers: [] },
		modelNames: {}
	};
	// The page's props are its load function's; only what it renders is given here.
	return render(UsagePage, { props: { data } as never });
}

describe('/usage totals', () => {
	it('does not call own-key spend "saved": it says what the amount is', () => {
		const { container } = renderPage();
		const card = container.querySelector('.stat.savings');
		expect(card?.textContent).not.toMatch(/saved/i);
		expect(card?.textContent).toContain("Kept off the app's budget");
		expect(card?.textContent).toContain('paid on your own keys');
		expect(card?.querySelector('.stat-value')?.textContent).toBe('$1.25');
	});
});
