import { describe, expect, it } from 'vitest';
import { AppError, httpErrorOf } from '$lib/server/errors';
import { isDatabaseUnavailable } from '$lib/server/db';

describe('httpErrorOf', () => {
	it('maps domain errors to OpenAI-shaped bodies with the right status', () => {
		const cap = httpErrorOf(new AppError('spend_cap_reached', 'Daily cap reached.', { reason: 'daily_cap' }), 'req-1');
		expect(cap.status).toBe(402);
		expect(cap.body.error).toMatchObject({
			type: 'insufficient_quota',
			code: 'daily_cap',
			message: 'Daily cap reached.',
			request_id: 'req-1'
		});

		const rate = httpErrorOf(new AppError('rate_limited', 'Slow down.', { retryAfterSeconds: 12.2 }));
		expect(rate.status).toBe(429);
		expect(rate.headers['retry-after']).toBe('13');
	});

	it('hides everything about unexpected errors', () => {
		const internal = new Error('relation "users" does not exist at character 15 sk-secret-value-123456');
		const mapped = httpErrorOf(internal, 'req-2');
		expect(mapped.status).toBe(500);
		expect(JSON.stringify(mapped.body)).not.toMatch(/relation|users|sk-secret/);
	});

	it('answers 503 when the database is unreachable', () => {
		const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
		expect(isDatabaseUnavailable(down)).toBe(true);
		const mapped = httpErrorOf(down, undefined, isDatabaseUnavailable);
		expect(mapped.status).toBe(503);
		expect(mapped.headers['retry-after']).toBe('5');
		expect(mapped.body.error.message).toMatch(/temporarily unavailable/);
	});
});
