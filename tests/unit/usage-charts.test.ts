import { describe, expect, it } from 'vitest';
import { tokensLineDataset } from '$lib/components/usage/charts';

describe('the tokens line on /usage', () => {
	it('joins the days with straight segments, not a smoothed curve', () => {
		const line = tokensLineDataset([0, 1200, 300], '#000');
		expect(line.tension).toBe(0);
		expect(line.cubicInterpolationMode).toBe('default');
		expect(line.stepped).toBe(false);
	});

	it('marks only the days with use', () => {
		expect(tokensLineDataset([0, 1200, 0], '#000').pointRadius).toEqual([0, 3, 0]);
	});
});
