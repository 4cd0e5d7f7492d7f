import type { Kysely } from 'kysely';
import type { Session } from 'lucia';
import type { Config } from '$lib/server/config';
import { isUniqueViolation, type Database, type Role } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import type { LuciaAuth } from './lucia';
import { burnPasswordCheck, hashPassword, verifyPassword } from './password';
import { signInInput, signUpInput } from './schemas';
import { admitSignIn } from './throttle';
import { parseInput } from '$lib/server/validation';

export interface AuthDeps {
	db: Kysely<Database>;
	lucia: LuciaAuth;
	config: Pick<Config, 'signInThrottle'>;
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
 */
export async function createAccount(db: Kysely<Database>, input: unknown): Promise<AccountUser> {
	const { email, password } = parseInput(signUpInput, input);
	const passwordHash = await hashPassword(password);
	try {
		return await db
			.insertInto('users')
			.values({ email, password_hash: passwordHash })
			.returning(['id', 'email', 'role'])
			.executeTakeFirstOrThrow();
	} catch (error) {
		if (isUniqueViolation(error, 'users_email_unique')) {
			throw new AppError('conflict', 'An account with this email already exists. Sign in instead.', {
				reason: 'email_taken'
			});
		}
		throw error;
	}
}

export async function signUp(deps: AuthDeps, input: unknown): Promise<SignedIn> {
	const user = await createAccount(deps.db, input);
	const session = await deps.lucia.createSession(user.id, {});
	return { user, session };
}

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
