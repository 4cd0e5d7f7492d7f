import { sql } from 'kysely';
import type { Session } from 'lucia';
import { recordAudit } from '$lib/server/audit';
import { AppError, unauthorized } from '$lib/server/errors';
import { parseInput } from '$lib/server/validation';
import type { AuthDeps } from './accounts';
import { hashSessionId } from './adapter';
import { hashPassword, verifyPassword } from './password';
import { PASSWORD_MESSAGES, passwordIsEmail } from './password-policy';
import { changePasswordInput } from './schemas';
import { clearAttempts, takeAttempt } from './throttle';
import { revokeAllAccessTokens } from './tokens';

export interface PasswordChanged {
	/** A fresh session for the caller; set it as the cookie. Every other session has ended. */
	session: Session;
	/** Sessions that ended, not counting the caller's own (which was replaced). */
	otherSessionsEnded: number;
	tokensRevoked: number;
}

/**
 * Changes the password of a signed-in user. Wrong current passwords are throttled per session
 * (`SIGNIN_MAX_FAILURES_PER_EMAIL_AND_IP` per window), so a stolen session cannot be used to
 * brute-force it, and its guesses lock neither the owner's own sessions nor their sign-in. On success,
 * in one transaction: the new hash and `password_changed_at` are stored, every session of the
 * user is deleted and every usable access token is revoked; then the caller gets a new session.
 */
export async function changePassword(
	deps: AuthDeps,
	userId: string,
	input: unknown,
	meta: { currentSessionId?: string | null; ip?: string | null } = {}
): Promise<PasswordChanged> {
	const { currentPassword, newPassword } = parseInput(changePasswordInput, input);
	const user = await deps.db
		.selectFrom('users')
		.select(['id', 'email', 'password_hash'])
		.where('id', '=', userId)
		.executeTakeFirst();
	if (!user) throw unauthorized();
	if (passwordIsEmail(newPassword, user.email)) {
		throw new AppError('bad_request', PASSWORD_MESSAGES.email, {
			reason: 'invalid_input',
			details: { field: 'newPassword' }
		});
	}

	const { maxFailuresPerEmailAndIp, windowSeconds } = deps.config.signInThrottle;
	const currentSessionHash = meta.currentSessionId ? hashSessionId(meta.currentSessionId) : null;
	const throttleKey = `password-change:${currentSessionHash ?? `user:${user.id}`}`;
	const attempt = await takeAttempt(deps.db, { key: throttleKey, max: maxFailuresPerEmailAndIp, windowSeconds });
	if (!attempt.allowed) {
		const minutes = Math.max(1, Math.ceil(attempt.retryAfterSeconds / 60));
		throw new AppError(
			'rate_limited',
			`Too many wrong passwords. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
			{ reason: 'password_throttled', retryAfterSeconds: attempt.retryAfterSeconds }
		);
	}
	if (!(await verifyPassword(user.password_hash, currentPassword))) {
		throw new AppError('bad_request', 'Your current password is not correct.', {
			reason: 'wrong_password',
			details: { field: 'currentPassword' }
		});
	}

	const newHash = await hashPassword(newPassword);
	const { otherSessionsEnded, tokensRevoked } = await deps.db.transaction().execute(async (trx) => {
		// Only if the hash is still the one just verified: a change that raced this one wins alone.
		const updated = await trx
			.updateTable('users')
			.set({ password_hash: newHash, password_changed_at: sql<Date>`now()` })
			.where('id', '=', user.id)
			.where('password_hash', '=', user.password_hash)
			.returning('id')
			.executeTakeFirst();
		if (!updated) {
			throw new AppError('conflict', 'Your password was changed somewhere else just now. Sign in again.', {
				reason: 'password_changed_elsewhere'
			});
		}
		const ended = await trx.deleteFrom('sessions').where('user_id', '=', user.id).returning('id').execute();
		const counts = {
			otherSessionsEnded: ended.filter((session) => session.id !== currentSessionHash).length,
			tokensRevoked: await revokeAllAccessTokens(trx, user.id)
		};
		await recordAudit(trx, {
			action: 'password.change',
			actorUserId: user.id,
			subjectUserId: user.id,
			ip: meta.ip ?? null,
			details: counts
		});
		return counts;
	});

	await clearAttempts(deps.db, throttleKey);
	// After the commit: on PGlite the transaction holds the only connection Lucia would need.
	const session = await deps.lucia.createSession(user.id, {});
	return { session, otherSessionsEnded, tokensRevoked };
}
