import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '$lib/server/auth';
import { migrate, type DbHandle } from '$lib/server/db';
import { deployments, runScript, type Deployment } from '../helpers/cli';
import { postgresSkipReason, requirePostgres, TEST_MASTER_KEYS, testDatabaseUrl } from '../helpers/env';

/**
 * `npm run admin -- grant|revoke|list` (scripts/admin.ts) as an operator runs it: a separate
 * process on the app's database. The functions underneath are tested in
 * tests/integration/admin-roles.test.ts; this is the command: exit codes, messages, the audit entry.
 */

const admin = (env: Record<string, string>, args: string[]) => runScript('admin.ts', env, args);

for (const kind of ['pglite', 'postgres'] as const) {
	const skip = kind === 'postgres' && !testDatabaseUrl && !requirePostgres;
	describe.skipIf(skip)(`npm run admin [${kind}]${skip ? ` (${postgresSkipReason})` : ''}`, () => {
		let deployment: Deployment;
		const EMAIL = 'ops@example.com';

		const inDatabase = async <T>(read: (handle: DbHandle) => Promise<T>): Promise<T> => {
			const handle = await deployment.open();
			try {
				return await read(handle);
			} finally {
				await handle.close();
			}
		};
		const roleOf = (email: string) =>
			inDatabase(
				async ({ db }) =>
					(await db.selectFrom('users').select('role').where('email', '=', email).executeTakeFirstOrThrow()).role
			);

		beforeAll(async () => {
			const empty = await deployments[kind]();
			// The same environment as the app's servers (MASTER_KEYS is required with DATABASE_URL).
			deployment = { ...empty, env: { ...empty.env, MASTER_KEYS: TEST_MASTER_KEYS } };
			await inDatabase(async (handle) => {
				await migrate(handle);
				await createAccount(handle.db, { email: EMAIL, password: 'operations desk 12' });
			});
		});
		afterAll(async () => {
			await deployment?.cleanup();
		});

		it.each([
			['no command', [], /^Name a command\.\n\nUsage: npm run admin -- <command>/],
			['an unknown command', ['promote', EMAIL], /^Unknown command "promote"\.\n\nUsage:/],
			['grant without an email', ['grant'], /^`grant` takes one email address\.\n\nUsage:/],
			['two emails', ['revoke', EMAIL, 'x@example.com'], /^`revoke` takes one email address\.\n\nUsage:/],
			['something that is not an email', ['grant', 'ops'], /^"ops" is not an email address\.$/]
		])('answers %s with exit code 2 and a clear message', async (_name, args, message) => {
			const result = await admin(deployment.env, args);
			expect(result.code, result.output).toBe(2);
			expect(result.output.trim()).toMatch(message);
		});

		it('refuses an email with no account with exit code 1 and says so', async () => {
			const result = await admin(deployment.env, ['grant', 'nobody@example.com']);
			expect(result.code).toBe(1);
			expect(result.output.trim()).toBe(
				'There is no account with the email nobody@example.com. The person must sign up first.'
			);
		});

		it('grants, audited with the operator as actor, lists, and says when nothing changed', async () => {
			const granted = await admin(deployment.env, ['grant', 'Ops@Example.com']);
			expect(granted.code, granted.output).toBe(0);
			expect(granted.output.trim()).toBe(`${EMAIL} is now an admin.`);
			expect(await roleOf(EMAIL)).toBe('admin');
			const audit = await inDatabase(({ db }) =>
				db.selectFrom('audit_log').select(['action', 'actor_user_id', 'details']).execute()
			);
			expect(audit).toEqual([
				{ action: 'admin.grant', actor_user_id: null, details: { by: 'operator', operator: expect.any(String) } }
			]);

			const again = await admin(deployment.env, ['grant', EMAIL]);
			expect(again.code).toBe(0);
			expect(again.output.trim()).toBe(`${EMAIL} is already an admin; nothing changed.`);

			const list = await admin(deployment.env, ['list']);
			expect(list.code).toBe(0);
			expect(list.output).toMatch(/^ops@example\.com\t\(account since \d{4}-\d{2}-\d{2}\)$/m);
		});

		it('revokes the last admin, warning that nobody is left', async () => {
			const revoked = await admin(deployment.env, ['revoke', EMAIL]);
			expect(revoked.code, revoked.output).toBe(0);
			expect(revoked.output).toContain(`${EMAIL} is no longer an admin (from their next request on).`);
			expect(revoked.output).toContain('Nobody is an admin now. Grant someone with: npm run admin -- grant EMAIL');
			expect(await roleOf(EMAIL)).toBe('user');
			const actions = await inDatabase(({ db }) => db.selectFrom('audit_log').select('action').orderBy('id').execute());
			expect(actions.map((a) => a.action)).toEqual(['admin.grant', 'admin.revoke']);
		});
	});
}
