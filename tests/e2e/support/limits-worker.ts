/**
 * One "app instance" for tests/e2e/limits-multiprocess.test.ts: connects to DATABASE_URL with its
 * own pool, prints "ready", waits for "go" on stdin (so both instances fire together), then runs
 * REQUESTS concurrent admit+settle calls for USER_ID (reserving RESERVE_MICROS and RESERVE_TOKENS, default
 * 100, and settling exactly those) and prints one JSON line with what happened. Optional: MODEL (the
 * request's model id, for per-model caps) and NOW (an ISO time admissions count at, for weekly and
 * monthly caps over earlier days).
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { connectDatabase } from '$lib/server/db';
import { admit, settle } from '$lib/server/limits';
import { isAppError } from '$lib/server/errors';
import type { Provider } from '$lib/server/config';

function required(name: string): string {
	const value = process.env[name];
	if (!value) throw new Error(`${name} is required`);
	return value;
}

const databaseUrl = required('DATABASE_URL');
const userId = required('USER_ID');
const provider = required('PROVIDER') as Provider;
const requests = Number(required('REQUESTS'));
const reserveMicros = Number(required('RESERVE_MICROS'));
const reserveTokens = Number(process.env.RESERVE_TOKENS ?? '100');
const model = process.env.MODEL || null;
const now = process.env.NOW ? new Date(process.env.NOW) : undefined;
const limits = {
	requestsPerHour: 100_000,
	tokensPerHour: 1_000_000_000,
	dailyCapMicros: 5_000_000,
	appDailyCapMicros: 500_000,
	appDailyBudgetMicros: null
};

const handle = await connectDatabase({ databaseUrl, poolSize: 10, applicationName: 'latchkey-limits-worker' });
// Open the pool's connections before the start signal, so both instances really overlap.
await Promise.all(Array.from({ length: 10 }, () => sql`select pg_sleep(0.01)`.execute(handle.db)));
process.stdout.write('ready\n');
await new Promise<void>((resolve) => {
	const lines = createInterface({ input: process.stdin });
	lines.on('line', (line) => {
		if (line.trim() === 'go') {
			lines.close();
			resolve();
		}
	});
});

let admitted = 0;
let settledMicros = 0;
const refused: Record<string, number> = {};
const reasons: Record<string, number> = {};
await Promise.all(
	Array.from({ length: requests }, async () => {
		try {
			const admission = await admit(handle.db, limits, {
				userId,
				provider,
				keySource: 'user',
				reserveMicros,
				reserveTokens,
				requestId: randomUUID(),
				model,
				now
			});
			admitted += 1;
			// The worst case, exactly: nothing comes back for another request to take.
			await settle(handle.db, admission, {
				costMicros: admission.reservedMicros,
				totalTokens: admission.reservedTokens
			});
			settledMicros += admission.reservedMicros;
		} catch (error) {
			const code = isAppError(error) ? error.code : `unexpected: ${String(error)}`;
			refused[code] = (refused[code] ?? 0) + 1;
			const reason = isAppError(error) ? (error.reason ?? code) : 'unexpected';
			reasons[reason] = (reasons[reason] ?? 0) + 1;
		}
	})
);
await handle.close();
process.stdout.write(`${JSON.stringify({ admitted, settledMicros, refused, reasons })}\n`);
