import { describe, expect, it } from 'vitest';
import { csvRangeProblem } from '$lib/components/admin/csv-range';

describe('the CSV form checks its dates before it sends them', () => {
	it('accepts a range in order, one day included', () => {
		expect(csvRangeProblem('2026-03-01', '2026-03-31', 366)).toBeNull();
		expect(csvRangeProblem('2026-03-01', '2026-03-01', 366)).toBeNull();
	});

	it('says when To is before From, or a date is missing', () => {
		expect(csvRangeProblem('2026-03-10', '2026-03-01', 366)).toMatch(/“To” \(2026-03-01\) is before “From”/);
		expect(csvRangeProblem('', '2026-03-01', 366)).toBe('Choose both dates: From and To.');
	});

	it('says when the period is longer than one file covers', () => {
		expect(csvRangeProblem('2025-01-01', '2026-03-01', 366)).toMatch(/one file covers at most 366/);
	});
});
