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

function source(keySource: 'user' | 'app', caps: { weekly: number | null; monthly: number | null }) {
	return {
		keySource,
		requestsPerHour: 100,
		tokensPerHour: 200_000,
		dailyCapMicros: 5_000_000,
		weeklyCapMicros: caps.weekly,
		monthlyCapMicros: caps.monthly,
		used: {
			requestsThisHour: 1,
			tokensThisHour: 10,
			reservedTokensThisHour: 0,
			settledTodayMicros: 250_000,
			reservedTodayMicros: 0,
			settledThisWeekMicros: 750_000,
			reservedThisWeekMicros: 0,
			settledThisMonthMicros: 2_000_000,
			reservedThisMonthMicros: 0
		},
		paused: false,
		pausedUntil: null
	};
}

function renderPage(limits: Record<string, unknown> = {}) {
	const data = {
		period: 'month',
		summary,
		monthSavingsMicros: 1_250_000,
		monthCostMicros: 1_250_000,
		daily: { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-03-15T00:00:00Z'), days: [] },
		limits: {
			now,
			hourResetsAt: now,
			dayResetsAt: new Date('2026-03-15T00:00:00Z'),
			weekResetsAt: new Date('2026-03-16T00:00:00Z'),
			monthResetsAt: new Date('2026-04-01T00:00:00Z'),
			providers: [],
			modelCaps: [],
			...limits
		},
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

describe('/usage limits', () => {
	it('shows a weekly cap, a monthly cap and a model cap against their reset times', () => {
		const { container, getByRole } = renderPage({
			providers: [
				{
					provider: 'openai',
					own: source('user', { weekly: 1_000_000, monthly: null }),
					app: source('app', { weekly: null, monthly: 3_000_000 })
				}
			],
			modelCaps: [
				{
					model: 'anthropic/claude-opus-4',
					dailyCapMicros: 700_000,
					userSetting: 700_000,
					adminCeiling: null,
					settledTodayMicros: 700_000,
					reservedTodayMicros: 0,
					paused: true
				}
			]
		});
		const resets = (container.querySelector('.resets')?.textContent ?? '').replace(/\s+/g, ' ');
		expect(resets).toContain('weekly caps at 00:00 UTC on 2026-03-16');
		expect(resets).toContain('monthly caps at 00:00 UTC on 2026-04-01');
		expect(getByRole('meter', { name: "This week's spending" }).getAttribute('aria-valuetext')).toBe('$0.75 of $1.00');
		expect(getByRole('meter', { name: "This month's spending" }).getAttribute('aria-valuetext')).toBe('$2.00 of $3.00');
		// Only the caps that are set get a meter.
		expect(container.querySelectorAll('[role="meter"]')).toHaveLength(2 * 2 + 2 + 1);
		const model = getByRole('meter', { name: 'anthropic/claude-opus-4' });
		expect(model.getAttribute('aria-valuetext')).toBe('$0.70 of $0.70');
	});
});
