import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../src/lib/server/db';
import { admit, settle, type LimitDefaults } from '../src/lib/server/limits';

// The one operation `bench/limits.ts` and `bench/limits-ab.ts` measure, defined once so their
// figures stay comparable.

/** Limits high enough that nothing is refused: the benches measure the admitted path. */
const limits: LimitDefaults = {
	requestsPerHour: 1_000_000,
	tokensPerHour: 1_000_000_000,
	dailyCapMicros: 10_000_000_000,
	appDailyCapMicros: 10_000_000_000,
	appDailyBudgetMicros: null
};

/** One admission for the user's own OpenAI key and its settlement (2 statements, 2 commits). */
export async function admitAndSettle(db: Kysely<Database>, userId: string, model: string | null = null) {
	const admission = await admit(db, limits, {
		userId,
		provider: 'openai',
		keySource: 'user',
		reserveMicros: 1_000,
		reserveTokens: 500,
		requestId: randomUUID(),
		model
	});
	await settle(db, admission, { costMicros: 800, totalTokens: 100 });
}
