import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { signUp } from '$lib/server/auth';
import { createCaller } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';

/** Who may create an account (issue 17, finding 4): a throttle per address, and SIGNUP_MODE. */
describeEachDatabase('sign-up', (database) => {
	const account = () => ({ email: `new-${randomUUID().slice(0, 8)}@example.com`, password: 'a fine passphrase' });
	const users = async (services: Services) =>
		Number(
			(
				await services.db
					.selectFrom('users')
					.select((eb) => eb.fn.countAll<number>().as('n'))
					.executeTakeFirstOrThrow()
			).n
		);

	it('lets one address create at most SIGNUP_MAX_PER_IP_PER_HOUR accounts an hour; others are not held back', async () => {
		const services = await testServices(database().handle, { SIGNUP_MAX_PER_IP_PER_HOUR: '3' });
		for (let i = 0; i < 3; i++) await signUp(services, account(), { ip: '198.51.100.1' });
		const before = await users(services);
		const throttled = await appErrorFrom(signUp(services, account(), { ip: '198.51.100.1' }));
		expect(throttled).toMatchObject({ status: 429, reason: 'signup_throttled' });
		expect(throttled.message).toMatch(
			/Too many accounts were created from your network in the last hour. Try again in \d+ minutes?\./
		);
		expect(throttled.retryAfterSeconds).toBeGreaterThan(3000);
		expect(await users(services)).toBe(before);
		await signUp(services, account(), { ip: '198.51.100.2' });
		expect(await users(services)).toBe(before + 1);
	});

	it('refuses every sign-up when closed, and creates nothing', async () => {
		const services = await testServices(database().handle, { SIGNUP_MODE: 'closed' });
		const before = await users(services);
		const refused = await appErrorFrom(signUp(services, account(), { ip: '198.51.100.3' }));
		expect(refused).toMatchObject({ status: 403, reason: 'signup_closed' });
		expect(refused.message).toBe('Sign-up is closed on this server. Ask an administrator for an account.');
		expect(await users(services)).toBe(before);
	});

	it('opens one account per invite code an admin made, and none with a missing, used, withdrawn or expired code', async () => {
		const services = await testServices(database().handle, { SIGNUP_MODE: 'invite' });
		const admin = await services.db
			.insertInto('users')
			.values({ email: `admin-${randomUUID().slice(0, 8)}@example.com`, password_hash: 'x', role: 'admin' })
			.returning(['id', 'email', 'role'])
			.executeTakeFirstOrThrow();
		const asAdmin = createCaller({ services, user: admin, sessionId: null, ip: '192.0.2.9', requestId: 'test' });
		const ip = { ip: '198.51.100.4' };

		const missing = await appErrorFrom(signUp(services, account(), ip));
		expect(missing).toMatchObject({ status: 403, reason: 'invite_required', details: { field: 'inviteCode' } });

		const invite = await asAdmin.admin.createInvite({ note: 'for Grace' });
		expect(invite.code).toMatch(/^lki_[A-Za-z0-9_-]{24}$/);
		const grace = await signUp(services, { ...account(), inviteCode: ` ${invite.code} ` }, ip);
		expect(grace.user.role).toBe('user');
		// Used once: the same code opens nothing more, and a refused sign-up leaves no account.
		const before = await users(services);
		const reused = await appErrorFrom(signUp(services, { ...account(), inviteCode: invite.code }, ip));
		expect(reused).toMatchObject({ status: 403, reason: 'invite_required' });
		expect(reused.message).toMatch(/not valid: it may be mistyped, used, withdrawn or expired/);
		expect(await users(services)).toBe(before);

		const withdrawn = await asAdmin.admin.createInvite({});
		expect(await asAdmin.admin.revokeInvite({ id: withdrawn.id })).toEqual({ id: withdrawn.id, revoked: true });
		expect((await appErrorFrom(signUp(services, { ...account(), inviteCode: withdrawn.code }, ip))).reason).toBe(
			'invite_required'
		);
		const expired = await asAdmin.admin.createInvite({ expiresInDays: 1 });
		await services.db
			.updateTable('invite_codes')
			.set({ expires_at: new Date(Date.now() - 1000) })
			.where('id', '=', expired.id)
			.execute();
		expect((await appErrorFrom(signUp(services, { ...account(), inviteCode: expired.code }, ip))).reason).toBe(
			'invite_required'
		);

		// Two sign-ups racing for one code: exactly one account.
		const raced = await asAdmin.admin.createInvite({});
		const results = await Promise.allSettled(
			[1, 2].map(() => signUp(services, { ...account(), inviteCode: raced.code }, ip))
		);
		expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);

		const list = await asAdmin.admin.invites();
		expect(list.find((i) => i.id === invite.id)).toMatchObject({
			status: 'used',
			note: 'for Grace',
			usedByEmail: grace.user.email
		});
		expect(list.find((i) => i.id === withdrawn.id)?.status).toBe('revoked');
		expect(list.find((i) => i.id === expired.id)?.status).toBe('expired');
		// Only the hash is stored; the audit log names the invitation, not its code.
		const stored = await services.db.selectFrom('invite_codes').select('code_hash').execute();
		expect(stored.some((r) => r.code_hash.includes(invite.code))).toBe(false);
		const audit = await services.db
			.selectFrom('audit_log')
			.select(['action', 'details'])
			.where('action', 'like', 'invite.%')
			.execute();
		expect(audit.map((a) => a.action).sort()).toEqual([
			'invite.create',
			'invite.create',
			'invite.create',
			'invite.create',
			'invite.revoke'
		]);
		expect(JSON.stringify(audit)).not.toContain(invite.code);

		// Users cannot make invitations.
		const user = createCaller({ services, user: grace.user, sessionId: null, ip: '192.0.2.10', requestId: 'test' });
		await expect(user.admin.createInvite({})).rejects.toMatchObject({ code: 'FORBIDDEN' });
	});
});
