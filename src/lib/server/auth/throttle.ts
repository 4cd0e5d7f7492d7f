import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { SignInThrottle } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';

export interface ThrottleRule {
	key: string;
	max: number;
	windowSeconds: number;
}

/** The counter of failures for one email only counts; it never refuses on its own. */
const UNBOUNDED = 2_147_483_647;

/**
 * Once an email has had `maxFailuresPerEmail` failures in the window (guessing from many
 * addresses), each address may fail this often for it, instead of `maxFailuresPerEmailAndIp`:
 * enough for a typo and a retry. An address that has not failed for it still gets its try, so the
 * owner is never locked out by someone else's guesses.
 */
export const FAILURES_PER_ADDRESS_UNDER_ATTACK = 2;

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

async function failuresInWindow(db: Kysely<Database>, key: string, windowSeconds: number): Promise<number> {
	const row = await db
		.selectFrom('auth_throttle')
		.select('failures')
		.where('key', '=', key)
		.where(sql<boolean>`window_started_at > now() - make_interval(secs => ${windowSeconds})`)
		.executeTakeFirst();
	return row?.failures ?? 0;
}

/** A successful sign-in gives back the attempt it took (IP, email) or clears the slate (the pair). */
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

/**
 * Takes the slots one sign-in attempt needs before the password is checked, or throws 429: per
 * address (any email), per email from that address, and a count per email that only narrows the
 * per-address allowance (FAILURES_PER_ADDRESS_UNDER_ATTACK). Nobody can lock the owner out: the
 * right password from an address that has not failed for that email always gets checked. Call
 * `succeeded` after a right password.
 */
export async function admitSignIn(
	db: Kysely<Database>,
	limits: SignInThrottle,
	email: string,
	ip: string
): Promise<{ succeeded(): Promise<void> }> {
	const { windowSeconds } = limits;
	const ipKey = `ip:${ip}`;
	const emailKey = `email:${email}`;
	// Hashed: an email and an IPv6 address could outgrow the key column together.
	const pairKey = `pair:${createHash('sha256').update(`${email}\n${ip}`).digest('hex')}`;

	const byIp = await takeAttempt(db, { key: ipKey, max: limits.maxFailuresPerIp, windowSeconds });
	if (!byIp.allowed) throw tooManyAttempts(byIp.retryAfterSeconds);
	const underAttack = (await failuresInWindow(db, emailKey, windowSeconds)) >= limits.maxFailuresPerEmail;
	const perPair = underAttack
		? Math.min(limits.maxFailuresPerEmailAndIp, FAILURES_PER_ADDRESS_UNDER_ATTACK)
		: limits.maxFailuresPerEmailAndIp;
	const byPair = await takeAttempt(db, { key: pairKey, max: perPair, windowSeconds });
	if (!byPair.allowed) throw tooManyAttempts(byPair.retryAfterSeconds);
	await takeAttempt(db, { key: emailKey, max: UNBOUNDED, windowSeconds });

	return {
		async succeeded() {
			await clearAttempts(db, pairKey);
			await returnAttempt(db, ipKey);
			await returnAttempt(db, emailKey);
		}
	};
}

export function tooManyAttempts(retryAfterSeconds: number): AppError {
	const minutes = Math.max(1, Math.ceil(retryAfterSeconds / 60));
	return new AppError(
		'rate_limited',
		`Too many failed sign-in attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
		{ reason: 'signin_throttled', retryAfterSeconds }
	);
}
