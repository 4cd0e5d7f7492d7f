import { describe, expect, it } from 'vitest';
import { formatResetTime, formatTokens, formatWait } from '$lib/format';
import { failureKind } from '$lib/chat/client';

describe('formatTokens', () => {
	it('prints small counts exactly and large ones compactly', () => {
		expect(formatTokens(0)).toBe('0');
		expect(formatTokens(980)).toBe('980');
		expect(formatTokens(9_999)).toBe('9,999');
		expect(formatTokens(12_345)).toBe('12.3K');
		expect(formatTokens(1_250_000)).toBe('1.3M');
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
		// Out of credit at the provider is fixed there or on /keys, not by waiting for our cap.
		expect(failureKind('upstream_quota')).toBe('quota');
		expect(failureKind('out_of_credit')).toBe('quota');
		expect(failureKind('client_aborted')).toBe('stopped');
		expect(failureKind('upstream_server_error')).toBe('other');
	});
});
