import { describe, expect, it } from 'vitest';
import { formatResetTime, formatTokens, formatUsd, formatWait, pricePer1k } from '$lib/format';
import { failureKind } from '$lib/chat/client';

describe('formatUsd (integer micro-dollars)', () => {
	it('shows cents from a dollar up', () => {
		expect(formatUsd(1_230_000)).toBe('$1.23');
		expect(formatUsd(1_000_000)).toBe('$1.00');
		expect(formatUsd(5_000_000)).toBe('$5.00');
		expect(formatUsd(1_234_567_890)).toBe('$1,234.57');
		expect(formatUsd(1_005_000)).toBe('$1.01');
	});

	it('keeps tiny amounts visible with three significant digits', () => {
		expect(formatUsd(123)).toBe('$0.000123');
		expect(formatUsd(1)).toBe('$0.000001');
		expect(formatUsd(20)).toBe('$0.00002');
		expect(formatUsd(42_500)).toBe('$0.0425');
		expect(formatUsd(123_456)).toBe('$0.123');
		expect(formatUsd(500_000)).toBe('$0.50');
		expect(formatUsd(10_000)).toBe('$0.01');
	});

	it('rounds up to a dollar at the boundary and handles zero and negatives', () => {
		expect(formatUsd(999_999)).toBe('$1.00');
		expect(formatUsd(0)).toBe('$0.00');
		expect(formatUsd(-1_500_000)).toBe('-$1.50');
		expect(formatUsd(-123)).toBe('-$0.000123');
	});
});

describe('formatTokens', () => {
	it('prints small counts exactly and large ones compactly', () => {
		expect(formatTokens(0)).toBe('0');
		expect(formatTokens(980)).toBe('980');
		expect(formatTokens(9_999)).toBe('9,999');
		expect(formatTokens(12_345)).toBe('12.3K');
		expect(formatTokens(1_250_000)).toBe('1.3M');
	});
});

describe('pricePer1k (micro-dollars per million tokens)', () => {
	it('is the exact dollar price of 1,000 tokens', () => {
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
});

describe('reset times', () => {
	const now = new Date('2026-11-13T14:20:00Z');
	it('names the UTC time, and the date when it is not today', () => {
		expect(formatResetTime(new Date('2026-11-13T15:00:00Z'), now)).toBe('15:00 UTC');
		expect(formatResetTime(new Date('2026-11-14T00:00:00Z'), now)).toBe('00:00 UTC');
		expect(formatResetTime(new Date('2026-11-14T00:00:00.800Z'), now)).toBe('00:00 UTC');
		expect(formatResetTime(new Date('2026-11-14T00:01:00Z'), now)).toBe('00:01 UTC on 2026-11-14');
		expect(formatResetTime(new Date('2026-11-15T00:00:00Z'), now)).toBe('00:00 UTC on 2026-11-15');
	});

	it('says how long the wait is', () => {
		expect(formatWait(42)).toBe('in 42 s');
		expect(formatWait(60)).toBe('in 1 min');
		expect(formatWait(40 * 60 - 1)).toBe('in 40 min');
		expect(formatWait(3 * 3600 + 5 * 60)).toBe('in 3 h 5 min');
		expect(formatWait(2 * 3600)).toBe('in 2 h');
		expect(formatWait(-5)).toBe('in 0 s');
	});
});

describe('failureKind', () => {
	it('sorts the server codes into the messages the chat page shows', () => {
		expect(failureKind('requests_per_hour')).toBe('rate_limit');
		expect(failureKind('tokens_per_hour')).toBe('rate_limit');
		expect(failureKind('daily_cap')).toBe('cap');
		expect(failureKind('app_daily_cap')).toBe('cap');
		expect(failureKind('no_key')).toBe('key');
		expect(failureKind('upstream_auth')).toBe('key');
		expect(failureKind('client_aborted')).toBe('stopped');
		expect(failureKind('upstream_server_error')).toBe('other');
	});
});
