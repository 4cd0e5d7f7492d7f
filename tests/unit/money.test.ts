import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatUsd, formatUsdExact, formatUsdInput, microsToUsd, pricePer1k, usdToMicros } from '$lib/money';

describe('formatUsd: how pages and messages print an amount', () => {
	it('shows cents from a dollar up, with thousands separators', () => {
		expect(formatUsd(1_230_000)).toBe('$1.23');
		expect(formatUsd(1_000_000)).toBe('$1.00');
		expect(formatUsd(5_000_000)).toBe('$5.00');
		expect(formatUsd(1_234_567_890)).toBe('$1,234.57');
	});

	it('rounds half a cent away from zero', () => {
		expect(formatUsd(1_005_000)).toBe('$1.01');
		expect(formatUsd(1_004_999)).toBe('$1.00');
		expect(formatUsd(-1_005_000)).toBe('-$1.01');
		expect(formatUsd(4_995_000)).toBe('$5.00');
	});

	it('keeps sub-cent amounts visible with three significant digits', () => {
		expect(formatUsd(1)).toBe('$0.000001');
		expect(formatUsd(20)).toBe('$0.00002');
		expect(formatUsd(123)).toBe('$0.000123');
		expect(formatUsd(1_234)).toBe('$0.00123');
		expect(formatUsd(1_235)).toBe('$0.00124');
		expect(formatUsd(9_999)).toBe('$0.01');
		expect(formatUsd(10_000)).toBe('$0.01');
		expect(formatUsd(42_500)).toBe('$0.0425');
		expect(formatUsd(123_456)).toBe('$0.123');
		expect(formatUsd(500_000)).toBe('$0.50');
	});

	it('rounds up to a dollar at the boundary', () => {
		expect(formatUsd(999_499)).toBe('$0.999');
		expect(formatUsd(999_500)).toBe('$1.00');
		expect(formatUsd(999_999)).toBe('$1.00');
	});

	it('prints zero, negative and fractional micro-dollars', () => {
		expect(formatUsd(0)).toBe('$0.00');
		expect(formatUsd(-0)).toBe('$0.00');
		expect(formatUsd(0.4)).toBe('$0.00');
		expect(formatUsd(-1_500_000)).toBe('-$1.50');
		expect(formatUsd(-123)).toBe('-$0.000123');
		expect(formatUsd(122.6)).toBe('$0.000123');
	});

	it('prints the largest safe amounts without losing digits', () => {
		expect(formatUsd(Number.MAX_SAFE_INTEGER)).toBe('$9,007,199,254.74');
		expect(formatUsd(1_000_000_000_000_000)).toBe('$1,000,000,000.00');
	});
});

describe('formatUsdExact: the CSV cell', () => {
	it('is exact to the micro-dollar, always six decimals, no symbol or separators', () => {
		expect(formatUsdExact(0)).toBe('0.000000');
		expect(formatUsdExact(123)).toBe('0.000123');
		expect(formatUsdExact(2_500_000)).toBe('2.500000');
		expect(formatUsdExact(1_234_567_890)).toBe('1234.567890');
		expect(formatUsdExact(-1)).toBe('-0.000001');
		expect(formatUsdExact(Number.MAX_SAFE_INTEGER)).toBe('9007199254.740991');
	});

	it('refuses anything but a whole number of micro-dollars', () => {
		for (const bad of [0.5, NaN, Infinity, 2 ** 53]) expect(() => formatUsdExact(bad)).toThrow(RangeError);
	});
});

describe('formatUsdInput: a form field value', () => {
	it('is exact with at least cents, and empty for no amount', () => {
		expect(formatUsdInput(5_000_000)).toBe('5.00');
		expect(formatUsdInput(500_000)).toBe('0.50');
		expect(formatUsdInput(2_505_000)).toBe('2.505');
		expect(formatUsdInput(1)).toBe('0.000001');
		expect(formatUsdInput(0)).toBe('0.00');
		expect(formatUsdInput(1_234_000_000)).toBe('1234.00');
		expect(formatUsdInput(null)).toBe('');
	});

	it('reads back to the same micro-dollars', () => {
		fc.assert(
			fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (micros) => {
				expect(usdToMicros(formatUsdInput(micros))).toBe(micros);
				expect(usdToMicros(formatUsdExact(micros))).toBe(micros);
			})
		);
	});
});

describe('usdToMicros: amounts people type', () => {
	it('reads decimal text exactly, without float drift', () => {
		expect(usdToMicros('2.50')).toBe(2_500_000);
		expect(usdToMicros('0.1')).toBe(100_000);
		expect(usdToMicros('0.000001')).toBe(1);
		expect(usdToMicros('1.005')).toBe(1_005_000);
		expect(usdToMicros('0.29')).toBe(290_000); // 0.29 * 1e6 is 289999.99999999994 in floats
		expect(usdToMicros('5')).toBe(5_000_000);
		expect(usdToMicros('5.')).toBe(5_000_000);
		expect(usdToMicros('.25')).toBe(250_000);
		expect(usdToMicros('0')).toBe(0);
		expect(usdToMicros('0.0')).toBe(0);
		expect(usdToMicros('0.1000000')).toBe(100_000);
	});

	it('accepts a dollar sign, surrounding spaces and thousands separators in groups of three', () => {
		expect(usdToMicros('$2.50')).toBe(2_500_000);
		expect(usdToMicros('$ 2.50')).toBe(2_500_000);
		expect(usdToMicros('  7 ')).toBe(7_000_000);
		expect(usdToMicros('$1,234.50')).toBe(1_234_500_000);
		expect(usdToMicros('1,234,567')).toBe(1_234_567_000_000);
	});

	it('reads JSON numbers through their decimal digits', () => {
		expect(usdToMicros(0.1)).toBe(100_000);
		expect(usdToMicros(2.5)).toBe(2_500_000);
		expect(usdToMicros(0.000001)).toBe(1);
		expect(usdToMicros(10_000)).toBe(10_000_000_000);
		expect(usdToMicros(0)).toBe(0);
	});

	it('refuses what is not an amount of whole micro-dollars', () => {
		for (const bad of [
			'',
			' ',
			'$',
			'.',
			'abc',
			'2.50 USD',
			'-1',
			'+1',
			'1e3',
			'0.0000001',
			'1.2345678',
			'12,34',
			'1,2345',
			'1.2.3',
			'0x10',
			'9007199254.740992',
			'99999999999999999999'
		]) {
			expect(usdToMicros(bad), bad).toBeUndefined();
		}
		for (const bad of [-1, 0.1 + 0.2, 1e-7, 1e21, NaN, Infinity, -Infinity]) {
			expect(usdToMicros(bad), String(bad)).toBeUndefined();
		}
	});

	it('takes the largest safe amount and not one micro-dollar more', () => {
		expect(usdToMicros('9007199254.740991')).toBe(Number.MAX_SAFE_INTEGER);
		expect(usdToMicros('9,007,199,254.740991')).toBe(Number.MAX_SAFE_INTEGER);
	});
});

describe('pricePer1k and microsToUsd', () => {
	it('prints a catalog price per 1,000 tokens exactly', () => {
		expect(pricePer1k(150_000)).toBe('$0.00015');
		expect(pricePer1k(600_000)).toBe('$0.0006');
		expect(pricePer1k(3_000_000)).toBe('$0.003');
		expect(pricePer1k(15_000_000)).toBe('$0.015');
		expect(pricePer1k(10_000_000)).toBe('$0.01');
		expect(pricePer1k(130_000)).toBe('$0.00013');
		expect(pricePer1k(1)).toBe('$0.000000001');
		expect(pricePer1k(75_000_000_000)).toBe('$75.00');
		expect(pricePer1k(0)).toBe('$0.00');
	});

	it('gives dollars as a number for JSON and charts', () => {
		expect(microsToUsd(2_500_000)).toBe(2.5);
		expect(microsToUsd(123)).toBe(0.000123);
		expect(microsToUsd(0)).toBe(0);
	});
});
