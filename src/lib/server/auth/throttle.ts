import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';

export interface ThrottleRule {
	key: string;
	max: number;
	windowSeconds: number;
}

/**
 * Counts one sign-in attempt against `rule` in a single atomic statement: the counter grows only
 * while it is under the limit (or its window has expired, which restarts it). Concurrent attempts
 * from several instances therefore cannot slip past the limit. Returns seconds to wait when refused.
 */
export async function takeAttempt(
	db: Kysely<Database>,
	rule: ThrottleRule
): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }> {
	const expired = sql<boolean>`t.window_started_at <= now() - make_interval(secs => ${rule.windowSeconds})`;
	const taken = await sql<{ failures: number }>`
		insert into auth_throttle as t (key, failures, window_started_at)
		values (${rule.key}, 1, now())
		on conflict (key) do update set
			failures = case when ${expired} then 1 else t.failures + 1 end,
			window_started_at = case when ${expired} then now() else t.window_started_at end
		where ${expired} or t.failures < ${rule.max}
		returning failures`.execute(db);
	if (taken.rows.length > 0) return { allowed: true };
	const row = await sql<{ seconds: number }>`
		select greatest(1, ceil(extract(epoch from (window_started_at + make_interval(secs => ${rule.windowSeconds}) - now()))))::int as seconds
		from auth_throttle where key = ${rule.key}`.execute(db);
	return { allowed: false, retryAfterSeconds: row.rows[0]?.seconds ?? rule.windowSeconds };
}

/** A successful sign-in gives back the attempt it took (IP) or clears the slate (email). */
export async function clearAttempts(db: Kysely<Database>, key: string): Promise<void> {
	await db.deleteFrom('auth_throttle').where('key', '=', key).execute();
}

export async function returnAttempt(db: Kysely<Database>, key: string): Promise<void> {
	await db
		.updateTable('auth_throttle')
		.set({ failures: sql`greatest(failures - 1, 0)` })
		.where('key', '=', key)
		.execute();
}

export function tooManyAttempts(retryAfterSeconds: number): AppError {
	const minutes = Math.max(1, Math.ceil(retryAfterSeconds / 60));
	return new AppError(
		'rate_limited',
		`Too many failed sign-in attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
		{ reason: 'signin_throttled', retryAfterSeconds }
	);
}
