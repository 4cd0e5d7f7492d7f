import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { signIn, signOut, signUp, verifyPassword } from '$lib/server/auth';
import { DUMMY_PASSWORD_HASH } from '$lib/server/auth/password';
import { AppError } from '$lib/server/errors';
import { createCaller } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';

/** Where these sign-ups come from (sign-up is throttled per address). */
const LOCAL = { ip: '127.0.0.1' };

describeEachDatabase('accounts', (database) => {
	let services: Services;
	beforeAll(async () => {
		services = await testServices(database().handle, {
			ADMIN_EMAILS: 'boss@example.com',
			// Per email and address, and per email: the defaults (5, 20).
			SIGNIN_MAX_FAILURES_PER_IP: '8'
		});
	});
	const countUsers = async () =>
		(
			await services.db
				.selectFrom('users')
				.select((eb) => eb.fn.countAll<number>().as('n'))
				.executeTakeFirstOrThrow()
		).n;

	it('signs up with a normalized email and a hashed password', async () => {
		const { user, session } = await signUp(
			services,
			{ email: '  Ada@Example.COM ', password: 'analytical engine' },
			LOCAL
		);
		expect(user).toMatchObject({ email: 'ada@example.com', role: 'user' });
		const row = await services.db.selectFrom('users').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow();
		expect(row.password_hash).toMatch(/^\$argon2id\$/);
		expect(row.password_hash).not.toContain('analytical engine');
		const sessions = await services.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute();
		expect(sessions).toHaveLength(1);
		// The table holds a hash of the cookie's session id, never the id itself.
		expect(sessions[0]?.id).not.toBe(session.id);
	});

	it('refuses a second account for the same email in another case, changing nothing', async () => {
		const before = await countUsers();
		const error = await appErrorFrom(
			signUp(services, { email: 'ADA@example.com', password: 'another password' }, LOCAL)
		);
		expect(error.code).toBe('conflict');
		expect(error.message).toMatch(/already exists/);
		expect(await countUsers()).toBe(before);
	});

	it.each([
		[{ email: 'not-an-email', password: 'long enough password' }, /valid email/],
		[{ email: 'short@example.com', password: 'tiny' }, /at least 12 characters/],
		[{ email: 'weak@example.com', password: 'aaaaaaaaaa' }, /at least 12 characters/],
		[{ email: 'weak@example.com', password: 'aaaaaaaaaaaa' }, /not one character or a short pattern repeated/],
		[{ email: 'weak@example.com', password: 'password1234' }, /one of the most common passwords/],
		[{ email: 'weak@example.com', password: 'Iloveyou2024!!' }, /one of the most common passwords/],
		[{ email: 'ada.lovelace@example.com', password: 'Ada.Lovelace@example.com' }, /not your email address/],
		[{ email: 'ada.lovelace@example.com', password: 'ada.lovelace' }, /not your email address/],
		[{ email: 'big@example.com', password: 'x'.repeat(1_000_000) }, /at most 256 characters/],
		[{ email: 'x@example.com' }, /Choose a password/],
		[{ email: 'x@example.com', password: 'long enough password', role: 'admin' }, /Unknown field: role/],
		['a string', /Expected object/]
	])('refuses bad sign-up input %# with a clear message and stores nothing', async (input, message) => {
		const before = await countUsers();
		const error = await appErrorFrom(signUp(services, input, LOCAL));
		expect(error.code).toBe('bad_request');
		expect(error.message).toMatch(message);
		expect(await countUsers()).toBe(before);
	});

	it('signs up and in an address listed in the retired ADMIN_EMAILS as a plain user', async () => {
		const { user } = await signUp(services, { email: 'Boss@example.com', password: 'i am the boss here' }, LOCAL);
		expect(user.role).toBe('user');
		const signedIn = await signIn(
			services,
			{ email: 'boss@example.com', password: 'i am the boss here' },
			{ ip: '10.0.9.1' }
		);
		expect(signedIn.user.role).toBe('user');
		expect((await services.lucia.validateSession(signedIn.session.id)).user?.role).toBe('user');
	});

	it('signs in with the right password and out again', async () => {
		const { user, session } = await signIn(
			services,
			{ email: 'ada@example.com', password: 'analytical engine' },
			{ ip: '10.0.0.1' }
		);
		expect(user.email).toBe('ada@example.com');
		expect((await services.lucia.validateSession(session.id)).user?.id).toBe(user.id);
		await signOut(services, session.id);
		expect((await services.lucia.validateSession(session.id)).session).toBeNull();
	});

	it('answers a wrong password and an unknown email the same way', async () => {
		const wrong = await appErrorFrom(
			signIn(services, { email: 'ada@example.com', password: 'difference engine' }, { ip: '10.0.0.2' })
		);
		const unknown = await appErrorFrom(
			signIn(services, { email: 'nobody@example.com', password: 'difference engine' }, { ip: '10.0.0.2' })
		);
		expect(wrong.code).toBe('unauthorized');
		expect(unknown.code).toBe('unauthorized');
		expect(wrong.message).toBe(unknown.message);
	});

	const signInFrom = (ip: string, email: string, password: string) => signIn(services, { email, password }, { ip });

	it('throttles an address that keeps failing for an email, while the owner signs in from another', async () => {
		await signUp(services, { email: 'grace@example.com', password: 'compiler pioneer' }, LOCAL);
		// Five wrong passwords from the attacker's address (the default per email and address).
		for (let i = 0; i < 5; i++) {
			const error = await appErrorFrom(signInFrom('10.1.0.1', 'grace@example.com', `wrong guess ${i}`));
			expect(error.code).toBe('unauthorized');
		}
		const throttled = await appErrorFrom(signInFrom('10.1.0.1', 'grace@example.com', 'compiler pioneer'));
		expect(throttled.code).toBe('rate_limited');
		expect(throttled.status).toBe(429);
		expect(throttled.message).toMatch(/Too many failed sign-in attempts. Try again in 15 minutes/);
		expect(throttled.retryAfterSeconds).toBeGreaterThan(800);
		// The owner, from an address that has not failed, gets in with the right password.
		const owner = await signInFrom('10.1.0.2', 'grace@example.com', 'compiler pioneer');
		expect(owner.user.email).toBe('grace@example.com');
		// The owner's success does not free the attacker's address.
		const still = await appErrorFrom(signInFrom('10.1.0.1', 'grace@example.com', 'compiler pioneer'));
		expect(still.code).toBe('rate_limited');
	});

	it('lets the window expire and a success give back the counts', async () => {
		await services.db
			.updateTable('auth_throttle')
			.set({ window_started_at: new Date(Date.now() - 3_600_000) })
			.execute();
		await signInFrom('10.1.0.1', 'grace@example.com', 'compiler pioneer');
		const counts = await services.db
			.selectFrom('auth_throttle')
			.select(['key', 'failures'])
			.where('key', 'in', ['email:grace@example.com', 'ip:10.1.0.1'])
			.orderBy('key')
			.execute();
		expect(counts).toEqual([
			{ key: 'email:grace@example.com', failures: 0 },
			{ key: 'ip:10.1.0.1', failures: 0 }
		]);
	});

	it('never lets guesses from many addresses lock the owner out, but gives each fewer tries', async () => {
		await signUp(services, { email: 'hopper@example.com', password: 'first compiler' }, LOCAL);
		// SIGNIN_MAX_FAILURES_PER_EMAIL (20) failures, from ten addresses.
		for (const ip of Array.from({ length: 10 }, (_, i) => `10.5.0.${i + 1}`)) {
			for (let i = 0; i < 2; i++) {
				expect((await appErrorFrom(signInFrom(ip, 'hopper@example.com', `guess ${ip} ${i}`))).code).toBe(
					'unauthorized'
				);
			}
		}
		// Past it, an address may fail only twice for this email (a typo and a retry), not five times.
		const codes = [];
		for (let i = 0; i < 3; i++) {
			codes.push((await appErrorFrom(signInFrom('10.5.1.1', 'hopper@example.com', `late guess ${i}`))).code);
		}
		expect(codes).toEqual(['unauthorized', 'unauthorized', 'rate_limited']);
		expect((await appErrorFrom(signInFrom('10.5.0.1', 'hopper@example.com', 'first compiler'))).code).toBe(
			'rate_limited'
		);
		// An address that has not failed for it still gets its try: the owner signs in.
		expect((await signInFrom('10.5.1.2', 'hopper@example.com', 'first compiler')).user.email).toBe(
			'hopper@example.com'
		);
	});

	it('throttles per IP across many emails', async () => {
		const ip = '10.9.9.9';
		const results = [];
		for (let i = 0; i < 9; i++) {
			results.push((await appErrorFrom(signInFrom(ip, `guess${i}@example.com`, 'password123456'))).code);
		}
		expect(results.slice(0, 8).every((code) => code === 'unauthorized')).toBe(true);
		expect(results[8]).toBe('rate_limited');
	});

	it('never lets parallel guesses from one address exceed the per email and address limit', async () => {
		await signUp(services, { email: 'parallel@example.com', password: 'right password!' }, LOCAL);
		const attempts = await Promise.allSettled(
			Array.from({ length: 12 }, (_, i) => signInFrom('10.2.0.1', 'parallel@example.com', `wrong guess ${i}`))
		);
		const codes = attempts.map((a) => (a.status === 'rejected' && a.reason instanceof AppError ? a.reason.code : 'ok'));
		expect(codes.filter((c) => c === 'unauthorized')).toHaveLength(5);
		expect(codes.filter((c) => c === 'rate_limited')).toHaveLength(7);
	});

	it('serves auth.me over tRPC only to a signed-in caller', async () => {
		const anonymous = createCaller({ services, user: null, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
		await expect(anonymous.auth.me()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
		const { user } = await signIn(
			services,
			{ email: 'ada@example.com', password: 'analytical engine' },
			{ ip: '10.3.0.1' }
		);
		const caller = createCaller({ services, user, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
		expect(await caller.auth.me()).toEqual({ id: user.id, email: 'ada@example.com', role: 'user' });
	});
});

describeEachDatabase('sign-in timing', (database) => {
	let services: Services;
	beforeAll(async () => {
		services = await testServices(database().handle);
	});

	const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
	async function timed(run: () => Promise<unknown>): Promise<number> {
		const started = performance.now();
		await run().catch(() => undefined);
		return performance.now() - started;
	}

	it('answers an unknown email about as slowly as a wrong password (the password check is not skipped)', async () => {
		const ROUNDS = 7;
		// One failure per account, email and address: far below every throttle limit.
		const accounts: string[] = [];
		for (let i = 0; i < ROUNDS; i++) {
			const email = `timing-${i}-${randomUUID().slice(0, 8)}@example.com`;
			await signUp(services, { email, password: 'the right password' }, LOCAL);
			accounts.push(email);
		}
		const ip = (i: number, kind: number) => `198.51.${100 + kind}.${i + 1}`;
		const unknown: number[] = [];
		const wrong: number[] = [];
		const bareCheck: number[] = [];
		for (let i = 0; i < ROUNDS; i++) {
			// Interleaved, so a busy moment on the machine slows both kinds alike.
			unknown.push(
				await timed(() =>
					signIn(
						services,
						{ email: `nobody-${randomUUID()}@example.com`, password: 'a wrong password' },
						{ ip: ip(i, 0) }
					)
				)
			);
			wrong.push(
				await timed(() => signIn(services, { email: accounts[i]!, password: 'a wrong password' }, { ip: ip(i, 1) }))
			);
			bareCheck.push(await timed(() => verifyPassword(DUMMY_PASSWORD_HASH, 'a wrong password')));
		}
		const ratio = median(unknown) / median(wrong);
		expect(ratio, `unknown ${median(unknown).toFixed(1)} ms, wrong ${median(wrong).toFixed(1)} ms`).toBeGreaterThan(
			0.5
		);
		expect(ratio).toBeLessThan(2);
		// Skipping argon2 would make an unknown email cost only the database round trips.
		expect(median(unknown)).toBeGreaterThan(0.7 * median(bareCheck));
	});
});
