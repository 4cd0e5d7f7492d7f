import type { Kysely, Transaction } from 'kysely';
import type { Session } from 'lucia';
import type { Config } from '$lib/server/config';
import { isUniqueViolation, type Database, type Role } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import type { LuciaAuth } from './lucia';
import { burnPasswordCheck, hashPassword, verifyPassword } from './password';
import { signInInput, signUpInput } from './schemas';
import { consumeInvite } from './invites';
import { admitSignIn, takeAttempt } from './throttle';
import { parseInput } from '$lib/server/validation';

export interface AuthDeps {
	db: Kysely<Database>;
	lucia: LuciaAuth;
	config: Pick<Config, 'signInThrottle' | 'signUp'>;
}

export interface AccountUser {
	id: string;
	email: string;
	role: Role;
}

export interface SignedIn {
	user: AccountUser;
	session: Session;
}

/**
 * A new account is always a plain user: admin rights come only from an operator or another admin
 * (roles.ts), never from the address someone signs up with (there is no email verification).
 * `beforeCommit` runs in the account's transaction (an invitation is spent with it).
 */
export async function createAccount(
	db: Kysely<Database>,
	input: unknown,
	beforeCommit?: (trx: Transaction<Database>, user: AccountUser) => Promise<void>
): Promise<AccountUser> {
	const { email, password } = parseInput(signUpInput, input);
	const passwordHash = await hashPassword(password);
	try {
		return await db.transaction().execute(async (trx) => {
			const user = await trx
				.insertInto('users')
				.values({ email, password_hash: passwordHash })
				.returning(['id', 'email', 'role'])
				.executeTakeFirstOrThrow();
			await beforeCommit?.(trx, user);
			return user;
		});
	} catch (error) {
		if (isUniqueViolation(error, 'users_email_unique')) {
			throw new AppError('conflict', 'An account with this email already exists. Sign in instead.', {
				reason: 'email_taken'
			});
		}
		throw error;
	}
}

/**
 * Public sign-up, as SIGNUP_MODE allows: open, with an admin's invite code, or not at all; at most
 * SIGNUP_MAX_PER_IP_PER_HOUR attempts per client address (each attempt counts, so the throttle
 * also slows probing which emails exist).
 */
export async function signUp(deps: AuthDeps, input: unknown, meta: { ip: string }): Promise<SignedIn> {
	const { mode, maxPerIpPerHour } = deps.config.signUp;
	if (mode === 'closed') {
		throw new AppError('forbidden', 'Sign-up is closed on this server. Ask an administrator for an account.', {
			reason: 'signup_closed'
		});
	}
	const attempt = await takeAttempt(deps.db, { key: `signup:${meta.ip}`, max: maxPerIpPerHour, windowSeconds: 3600 });
	if (!attempt.allowed) {
		const minutes = Math.ceil(attempt.retryAfterSeconds / 60);
		throw new AppError(
			'rate_limited',
			`Too many accounts were created from your network in the last hour. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
			{ reason: 'signup_throttled', retryAfterSeconds: attempt.retryAfterSeconds }
		);
	}
	// The code is the sign-up's, not the account's: everything else goes to the strict account schema.
	const { inviteCode, ...account } = isRecord(input) ? input : { inviteCode: undefined };
	const code = typeof inviteCode === 'string' ? inviteCode : undefined;
	const user = await createAccount(
		deps.db,
		isRecord(input) ? account : input,
		mode === 'invite' ? (trx, created) => consumeInvite(trx, code, created.id) : undefined
	);
	const session = await deps.lucia.createSession(user.id, {});
	return { user, session };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
	typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks the password under the sign-in throttle (throttle.ts: per address, per email from that
 * address). Every attempt takes its slots atomically before the password is checked, so parallel
 * guesses cannot exceed the limits; a success hands them back.
 */
export async function signIn(deps: AuthDeps, input: unknown, meta: { ip: string }): Promise<SignedIn> {
	const { email, password } = parseInput(signInInput, input);
	const attempt = await admitSignIn(deps.db, deps.config.signInThrottle, email, meta.ip);

	const row = await deps.db
		.selectFrom('users')
		.select(['id', 'email', 'role', 'password_hash'])
		.where('email', '=', email)
		.executeTakeFirst();
	const valid = row ? await verifyPassword(row.password_hash, password) : (await burnPasswordCheck(password), false);
	if (!row || !valid) {
		throw new AppError('unauthorized', 'That email and password do not match an account.', {
			reason: 'invalid_credentials'
		});
	}

	await attempt.succeeded();
	const session = await deps.lucia.createSession(row.id, {});
	return { user: { id: row.id, email: row.email, role: row.role }, session };
}

export async function signOut(deps: Pick<AuthDeps, 'lucia'>, sessionId: string): Promise<void> {
	await deps.lucia.invalidateSession(sessionId);
}
