import { beforeAll, expect, it } from 'vitest';
import {
	changePassword,
	listAccessTokens,
	signIn,
	signUp,
	verifyAccessToken,
	type AccountUser
} from '$lib/server/auth';
import { listAudit } from '$lib/server/audit';
import { AppError } from '$lib/server/errors';
import { createCaller } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { createAccessToken } from '../helpers/tokens';
import { appErrorFrom } from '../helpers/errors';

/** Where these sign-ups come from (sign-up is throttled per address). */
const LOCAL = { ip: '127.0.0.1' };

describeEachDatabase('password change', (database) => {
	let services: Services;
	let ada: AccountUser;
	let ip = 0;
	// A fresh address per sign-in keeps the per-IP throttle out of these tests.
	const nextIp = () => `10.20.${Math.floor(++ip / 250)}.${ip % 250}`;

	const passwordHash = async (userId: string) =>
		(await services.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow())
			.password_hash;
	const sessionCount = async (userId: string) =>
		(await services.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length;

	beforeAll(async () => {
		services = await testServices(database().handle, { SIGNIN_MAX_FAILURES_PER_EMAIL_AND_IP: '3' });
		ada = (await signUp(services, { email: 'ada@example.com', password: 'analytical engine' }, LOCAL)).user;
	});

	it('refuses a wrong current password and changes nothing', async () => {
		const { token } = await createAccessToken(services.db, ada.id, { name: 'survives' });
		const hashBefore = await passwordHash(ada.id);
		const sessionsBefore = await sessionCount(ada.id);
		const error = await appErrorFrom(
			changePassword(services, ada.id, { currentPassword: 'difference engine', newPassword: 'brand new secret' })
		);
		expect(error.status).toBe(400);
		expect(error.message).toBe('Your current password is not correct.');
		expect(await passwordHash(ada.id)).toBe(hashBefore);
		expect(await sessionCount(ada.id)).toBe(sessionsBefore);
		expect((await listAudit(services.db, { subjectUserId: ada.id, action: 'password.change' })).entries).toEqual([]);
		expect(await verifyAccessToken(services.db, token)).not.toBeNull();
		await signIn(services, { email: 'ada@example.com', password: 'analytical engine' }, { ip: nextIp() });
	});

	it.each([
		[{ currentPassword: 'analytical engine', newPassword: 'short' }, /at least 12 characters/],
		[{ currentPassword: 'analytical engine', newPassword: 'qwertyuiop123!' }, /most common passwords/],
		[{ currentPassword: 'analytical engine', newPassword: 'zzzzzzzzzzzzzz' }, /one character or a short pattern/],
		[{ currentPassword: 'analytical engine', newPassword: 'ADA@example.com' }, /not your email address/],
		[{ currentPassword: 'analytical engine', newPassword: 'x'.repeat(257) }, /at most 256 characters/],
		[{ currentPassword: 'analytical engine', newPassword: 'analytical engine' }, /different from your current one/],
		[{ currentPassword: '', newPassword: 'brand new secret' }, /Enter your current password/],
		[{ newPassword: 'brand new secret' }, /Enter your current password/],
		[{ currentPassword: 'analytical engine' }, /Choose a new password/],
		[{ currentPassword: 'analytical engine', newPassword: 'brand new secret', userId: 'x' }, /Unknown field/],
		[
			{ currentPassword: 'analytical engine', newPassword: 'brand new secret', confirmPassword: 'brand new secrets' },
			/^The two new passwords do not match\. Type the same new password twice\.$/
		]
	])('refuses bad input %# with a clear 400 and changes nothing', async (input, message) => {
		const hashBefore = await passwordHash(ada.id);
		const error = await appErrorFrom(changePassword(services, ada.id, input));
		expect(error.status).toBe(400);
		expect(error.message).toMatch(message);
		expect(await passwordHash(ada.id)).toBe(hashBefore);
	});

	it('throttles wrong current passwords per session: a stolen one cannot guess, the owner is not locked out', async () => {
		const { user } = await signUp(services, { email: 'grace@example.com', password: 'compiler pioneer' }, LOCAL);
		const stolen = await signIn(
			services,
			{ email: 'grace@example.com', password: 'compiler pioneer' },
			{ ip: nextIp() }
		);
		const thief = { currentSessionId: stolen.session.id };
		for (let i = 0; i < 3; i++) {
			const error = await appErrorFrom(
				changePassword(services, user.id, { currentPassword: `guess ${i}`, newPassword: 'taken over now' }, thief)
			);
			expect(error.code).toBe('bad_request');
		}
		const throttled = await appErrorFrom(
			changePassword(services, user.id, { currentPassword: 'compiler pioneer', newPassword: 'taken over now' }, thief)
		);
		expect(throttled.status).toBe(429);
		expect(throttled.message).toMatch(/Too many wrong passwords. Try again in \d+ minutes?\./);
		expect(throttled.retryAfterSeconds).toBeGreaterThan(0);
		// The owner still signs in, and changes the password from their own session, ending the thief's.
		const owner = await signIn(
			services,
			{ email: 'grace@example.com', password: 'compiler pioneer' },
			{ ip: nextIp() }
		);
		await changePassword(
			services,
			user.id,
			{ currentPassword: 'compiler pioneer', newPassword: 'a fresh start now' },
			{ currentSessionId: owner.session.id }
		);
		expect((await services.lucia.validateSession(stolen.session.id)).session).toBeNull();
	});

	it('ends every other session, revokes every token, keeps the caller signed in, and swaps the password', async () => {
		const other = await signIn(services, { email: 'ada@example.com', password: 'analytical engine' }, { ip: nextIp() });
		const current = await signIn(
			services,
			{ email: 'ada@example.com', password: 'analytical engine' },
			{ ip: nextIp() }
		);
		const tokens = await Promise.all([
			createAccessToken(services.db, ada.id, { name: 'laptop' }),
			createAccessToken(services.db, ada.id, { name: 'ci', expiresInDays: 90 })
		]);
		const sessionsBefore = await sessionCount(ada.id);
		expect(sessionsBefore).toBeGreaterThanOrEqual(2);
		const activeBefore = (await listAccessTokens(services.db, ada.id)).filter((t) => t.status === 'active').length;

		const result = await changePassword(
			services,
			ada.id,
			{ currentPassword: 'analytical engine', newPassword: 'difference engine' },
			{ currentSessionId: current.session.id }
		);
		expect(result.otherSessionsEnded).toBe(sessionsBefore - 1);
		expect(result.tokensRevoked).toBe(activeBefore);
		const audit = await listAudit(services.db, { subjectUserId: ada.id, action: 'password.change' });
		expect(audit.entries).toHaveLength(1);
		expect(audit.entries[0]?.details).toEqual({ otherSessionsEnded: sessionsBefore - 1, tokensRevoked: activeBefore });
		expect(JSON.stringify(audit.entries)).not.toMatch(/engine/);

		expect((await services.lucia.validateSession(other.session.id)).session).toBeNull();
		expect((await services.lucia.validateSession(current.session.id)).session).toBeNull();
		expect((await services.lucia.validateSession(result.session.id)).user?.id).toBe(ada.id);
		expect(await sessionCount(ada.id)).toBe(1);

		for (const { token } of tokens) expect(await verifyAccessToken(services.db, token)).toBeNull();
		expect((await listAccessTokens(services.db, ada.id)).every((t) => t.status !== 'active')).toBe(true);

		const oldPassword = await appErrorFrom(
			signIn(services, { email: 'ada@example.com', password: 'analytical engine' }, { ip: nextIp() })
		);
		expect(oldPassword.code).toBe('unauthorized');
		const signedIn = await signIn(
			services,
			{ email: 'ada@example.com', password: 'difference engine' },
			{ ip: nextIp() }
		);
		expect(signedIn.user.id).toBe(ada.id);

		const changedAt = await services.db
			.selectFrom('users')
			.select(['password_changed_at', 'created_at'])
			.where('id', '=', ada.id)
			.executeTakeFirstOrThrow();
		expect(changedAt.password_changed_at.getTime()).toBeGreaterThan(changedAt.created_at.getTime());
	});

	it('lets tokens created after the change work', async () => {
		const { token } = await createAccessToken(services.db, ada.id, { name: 'after the change' });
		expect((await verifyAccessToken(services.db, token))?.userId).toBe(ada.id);
	});

	it('is served by auth.changePassword over tRPC, only to a signed-in caller', async () => {
		const anonymous = createCaller({ services, user: null, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
		await expect(
			anonymous.auth.changePassword({ currentPassword: 'difference engine', newPassword: 'third password here' })
		).rejects.toMatchObject({ code: 'UNAUTHORIZED' });

		const { session } = await signIn(
			services,
			{ email: 'ada@example.com', password: 'difference engine' },
			{ ip: nextIp() }
		);
		const caller = createCaller({ services, user: ada, sessionId: session.id, ip: '127.0.0.1', requestId: 'test' });
		await expect(
			caller.auth.changePassword({ currentPassword: 'wrong one', newPassword: 'third password here' })
		).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'Your current password is not correct.' });
		const result = await caller.auth.changePassword({
			currentPassword: 'difference engine',
			newPassword: 'third password here'
		});
		expect(result).toMatchObject({ passwordChanged: true, tokensRevoked: 1 });
		expect(JSON.stringify(result)).not.toContain(session.id);
		await signIn(services, { email: 'ada@example.com', password: 'third password here' }, { ip: nextIp() });
	});

	it('lets only one of two racing changes win', async () => {
		const { user } = await signUp(services, { email: 'race@example.com', password: 'racing password' }, LOCAL);
		const results = await Promise.allSettled([
			changePassword(services, user.id, { currentPassword: 'racing password', newPassword: 'winner number one' }),
			changePassword(services, user.id, { currentPassword: 'racing password', newPassword: 'winner number two' })
		]);
		const won = results.filter((r) => r.status === 'fulfilled');
		expect(won).toHaveLength(1);
		const lost = results.find((r) => r.status === 'rejected');
		// Usually both checked the old password first and the slower one finds it replaced (409);
		// if one finished before the other looked, the old password is simply wrong (400).
		expect(['conflict', 'bad_request']).toContain(
			lost?.status === 'rejected' && lost.reason instanceof AppError ? lost.reason.code : null
		);
		expect(await sessionCount(user.id)).toBe(1);
	});
});
