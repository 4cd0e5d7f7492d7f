import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { createAccount, grantAdmin, listAdmins, revokeAdmin, signIn, type AccountUser } from '$lib/server/auth';
import type { Services } from '$lib/server/services';
import { createCaller } from '$lib/server/trpc';
import { describeEachDatabase } from '../helpers/db';
import { appErrorFrom } from '../helpers/errors';
import { testServices } from '../helpers/services';

const OPERATOR = { kind: 'operator', name: 'ops-oncall' } as const;
const PASSWORD = 'a long enough passphrase';

describeEachDatabase('admin rights (grant and revoke)', (database) => {
	let services: Services;
	let root: AccountUser;
	let accounts = 0;
	const as = (user: AccountUser | null) =>
		createCaller({ services, user, sessionId: null, ip: '198.51.100.7', requestId: 'roles-test' });
	const account = (name: string) =>
		createAccount(services.db, { email: `${name}-${++accounts}@example.com`, password: PASSWORD });
	const roleOf = async (id: string) =>
		(await services.db.selectFrom('users').select('role').where('id', '=', id).executeTakeFirstOrThrow()).role;
	const auditOf = (subject: string) =>
		services.db
			.selectFrom('audit_log')
			.select(['action', 'actor_user_id', 'ip', 'details'])
			.where('subject_user_id', '=', subject)
			.orderBy('id')
			.execute();

	beforeAll(async () => {
		services = await testServices(database().handle);
		root = await account('root');
		root = (await grantAdmin(services.db, { email: root.email }, OPERATOR)).user;
	});

	it('lets an operator grant by email, audited with the operator as actor, and says when nothing changed', async () => {
		const user = await account('ops');
		const granted = await grantAdmin(services.db, { email: `  ${user.email.toUpperCase()} ` }, OPERATOR);
		expect(granted).toMatchObject({ user: { id: user.id, role: 'admin' }, changed: true });
		expect(await roleOf(user.id)).toBe('admin');
		expect(await auditOf(user.id)).toEqual([
			{ action: 'admin.grant', actor_user_id: null, ip: null, details: { by: 'operator', operator: 'ops-oncall' } }
		]);
		expect((await grantAdmin(services.db, { email: user.email }, OPERATOR)).changed).toBe(false);
		expect(await auditOf(user.id)).toHaveLength(1);
		expect((await listAdmins(services.db)).map((a) => a.email)).toContain(user.email);
	});

	it('refuses an unknown email with a clear message', async () => {
		const error = await appErrorFrom(grantAdmin(services.db, { email: 'nobody@example.com' }, OPERATOR));
		expect(error.code).toBe('not_found');
		expect(error.message).toBe('There is no account with the email nobody@example.com. The person must sign up first.');
	});

	it('lets an admin grant and revoke in the console, audited with the admin and their address', async () => {
		const user = await account('promoted');
		expect(await as(root).admin.grantAdmin({ userId: user.id })).toMatchObject({
			user: { id: user.id, role: 'admin' },
			changed: true
		});
		expect(await roleOf(user.id)).toBe('admin');
		expect(await as(root).admin.revokeAdmin({ userId: user.id })).toMatchObject({
			user: { id: user.id, role: 'user' },
			changed: true
		});
		expect(await roleOf(user.id)).toBe('user');
		expect(await auditOf(user.id)).toEqual([
			{ action: 'admin.grant', actor_user_id: root.id, ip: '198.51.100.7', details: { by: 'admin' } },
			{ action: 'admin.revoke', actor_user_id: root.id, ip: '198.51.100.7', details: { by: 'admin' } }
		]);
	});

	it('refuses the console procedures to a non-admin (audited) and bad or unknown ids', async () => {
		const user = await account('climber');
		await expect(as(user).admin.grantAdmin({ userId: user.id })).rejects.toMatchObject({ code: 'FORBIDDEN' });
		expect(await roleOf(user.id)).toBe('user');
		const refused = await services.db
			.selectFrom('audit_log')
			.select('details')
			.where('action', '=', 'admin.forbidden')
			.where('actor_user_id', '=', user.id)
			.execute();
		expect(refused).toEqual([{ details: { path: '/api/trpc/admin.grantAdmin', method: 'CALL' } }]);
		await expect(as(root).admin.grantAdmin({ userId: randomUUID() })).rejects.toMatchObject({
			code: 'NOT_FOUND'
		});
		await expect(as(root).admin.grantAdmin({ userId: 'not-an-id' })).rejects.toMatchObject({
			code: 'BAD_REQUEST',
			message: 'userId must be a user id.'
		});
	});

	it('takes effect on the next request: the revoked admin’s session carries the user role', async () => {
		const user = await account('demoted');
		await grantAdmin(services.db, { email: user.email }, OPERATOR);
		const { session } = await signIn(services, { email: user.email, password: PASSWORD }, { ip: '198.51.100.8' });
		const before = (await services.lucia.validateSession(session.id)).user;
		expect(before?.role).toBe('admin');
		await as(root).admin.revokeAdmin({ userId: user.id });
		const after = (await services.lucia.validateSession(session.id)).user;
		expect(after?.role).toBe('user');
		const caller = { id: user.id, email: user.email, role: after!.role };
		await expect(as(caller).admin.users({})).rejects.toMatchObject({ code: 'FORBIDDEN' });
	});

	it('refuses an admin revoking themselves in the console, so the console cannot lock everyone out', async () => {
		await expect(as(root).admin.revokeAdmin({ userId: root.id })).rejects.toMatchObject({
			code: 'CONFLICT',
			message: expect.stringMatching(/^You cannot remove your own admin rights\./)
		});
		expect(await roleOf(root.id)).toBe('admin');
	});

	it('lets only one of two admins revoking each other at the same moment succeed', async () => {
		const [a, b] = await Promise.all([account('duel-a'), account('duel-b')]);
		for (const user of [a, b]) await grantAdmin(services.db, { email: user.email }, OPERATOR);
		const asAdmin = (user: AccountUser) => ({ ...user, role: 'admin' as const });
		const results = await Promise.allSettled([
			as(asAdmin(a)).admin.revokeAdmin({ userId: b.id }),
			as(asAdmin(b)).admin.revokeAdmin({ userId: a.id })
		]);
		expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
		const refused = results.find((r) => r.status === 'rejected');
		expect(refused?.reason).toMatchObject({ code: 'FORBIDDEN' });
		expect([await roleOf(a.id), await roleOf(b.id)].sort()).toEqual(['admin', 'user']);
	});

	it('lets an operator revoke the last admin, and says that nobody is left', async () => {
		for (const admin of await listAdmins(services.db)) {
			if (admin.id !== root.id) await revokeAdmin(services.db, { email: admin.email }, OPERATOR);
		}
		const last = await revokeAdmin(services.db, { email: root.email }, OPERATOR);
		expect(last).toMatchObject({ changed: true, admins: 0 });
		expect(await listAdmins(services.db)).toEqual([]);
		expect((await revokeAdmin(services.db, { email: root.email }, OPERATOR)).changed).toBe(false);
		await grantAdmin(services.db, { email: root.email }, OPERATOR);
	});
});
