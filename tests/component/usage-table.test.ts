import { render } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import UsageTable from '$lib/components/usage/UsageTable.svelte';
import type { ModelUsage } from '$lib/components/usage/types';

const row = (overrides: Partial<ModelUsage>): ModelUsage => ({
	provider: 'openai',
	model: 'openai/gpt-4o-mini',
	keySource: 'user',
	requests: 2,
	unpricedRequests: 0,
	promptTokens: 100,
	completionTokens: 50,
	costMicros: 1_500,
	...overrides
});

describe('UsageTable', () => {
	it('does not pass off an unknown price as $0', () => {
		const { container } = render(UsageTable, {
			rows: [
				row({}),
				row({ model: 'openai/gpt-new-unpriced', requests: 3, unpricedRequests: 3, costMicros: 0 }),
				row({ provider: 'anthropic', model: 'anthropic/claude-x', requests: 4, unpricedRequests: 1, costMicros: 2_000 })
			]
		});
		const costOf = (model: string) =>
			[...container.querySelectorAll('tbody tr')]
				.find((tr) => tr.querySelector('th')?.textContent === model)
				?.querySelectorAll('td')[1]?.textContent;
		expect(costOf('openai/gpt-4o-mini')).toBe('$0.0015');
		expect(costOf('openai/gpt-new-unpriced')).toBe('Price unknown');
		expect(costOf('anthropic/claude-x')).toBe('$0.002 + unknown');
		expect(container.querySelector('tfoot')?.textContent).toContain('4 requests had no known price');
	});
});
