import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { revalidateDueKeys } from '$lib/server/keys';
import { startChat } from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import { createCaller, type SessionUser } from '$lib/server/trpc';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { fakeEnv, routableKeyOf, testKey, trpcFailure } from './keys-fixtures';

const APP_KEY = 'sk-or-v1-appkeybulk0123456789abcdefghijklmnopqrstuvwxyz';

let fake: FakeProviders;
beforeAll(async () => {
	fake = await startFakeProviders();
});
afterAll(async () => {
	await fake.close();
});

describeEachDatabase('admin bulk key actions (one provider, every user)', (database) => {
	let services: Services;
	let db: Kysely<Database>;
	let admin: SessionUser;
	const as = (user: SessionUser | null, ip = '198.51.100.21') =>
		createCaller({ services, user, sessionId: null, ip, requestId: 'admin-bulk-test' });

	beforeAll(async () => {
		services = await testServices(database().handle, { ...fakeEnv(fake), OPENROUTER_API_KEY: APP_KEY });
		db = services.db;
		admin = await createAccount('root', 'admin');
	});
	beforeEach(() => {
		fake.registerKey('openrouter', APP_KEY, 'ok');
	});

	async function createAccount(name: string, role: 'user' | 'admin' = 'user'): Promise<SessionUser> {
		return db
			.insertInto('users')
			.values({ email: `${name}-${randomUUID().slice(0, 8)}@example.com`, password_hash: 'not used', role })
			.returning(['id', 'email', 'role'])
			.executeTakeFirstOrThrow();
	}

	/** A user holding working keys for `providers`, added through the keys router. */
	async function userWithKeys(name: string, providers: readonly Provider[]): Promise<SessionUser> {
		return (await userAndKeys(name, providers)).user;
	}
	async function userAndKeys(name: string, providers: readonly Provider[]) {
		const user = await createAccount(name);
		const keys: Partial<Record<Provider, string>> = {};
		for (const provider of providers) {
			const key = testKey(provider, name.replace(/\W/g, ''));
			fake.registerKey(provider, key, 'ok');
			await as(user).keys.upsert({ provider, apiKey: key });
			keys[provider] = key;
		}
		return { user, keys };
	}

	/** Everything about the keys a bulk action may touch, to compare before and after. */
	const keySnapshot = () =>
		db
			.selectFrom('provider_keys')
			.select(['id', 'provider', 'is_active', 'disabled_by_admin_at', 'next_validation_at', 'status'])
			.orderBy('id')
			.execute();
	const auditOf = (action: string) =>
		db.selectFrom('audit_log').selectAll().where('action', '=', action).orderBy('id').execute();

	it('counts one provider’s keys in a dry run, then switches off exactly those, audited once', async () => {
		const alice = await userWithKeys('alice', ['anthropic', 'openai']);
		const bob = await userWithKeys('bob', ['anthropic', 'google']);
		const carol = await userWithKeys('carol', ['anthropic']);
		// Carol's own switch-off still counts (the admin's lock holds it off); an admin's earlier one does not.
		const carolKey = (await as(carol).keys.list())[0]!;
		await as(carol).keys.setActive({ id: carolKey.id, active: false });
		const dave = await userWithKeys('dave', ['anthropic']);
		await as(admin).admin.disableAllKeys({ userId: dave.id });

		const before = await keySnapshot();
		const auditBefore = await db.selectFrom('audit_log').select('id').execute();
		const dry = await as(admin).admin.bulkDeactivateKeys({ provider: 'anthropic', dryRun: true });
		expect(dry).toEqual({
			provider: 'anthropic',
			dryRun: true,
			keys: 3,
			users: 3,
			activeKeys: 2,
			notice: 'Would switch off 3 Anthropic keys of 3 users (2 on).'
		});
		expect(await keySnapshot()).toEqual(before);
		expect(await db.selectFrom('audit_log').select('id').execute()).toEqual(auditBefore);

		const done = await as(admin, '192.0.2.80').admin.bulkDeactivateKeys({ provider: 'anthropic', dryRun: false });
		expect(done).toMatchObject({ dryRun: false, keys: 3, users: 3, activeKeys: 2 });
		expect(done.notice).toBe('Switched off 3 Anthropic keys of 3 users (2 on).');

		for (const user of [alice, bob, carol, dave]) {
			expect(await routableKeyOf(db, user.id, 'anthropic')).toBeUndefined();
			const anthropic = (await as(user).keys.list()).find((k) => k.provider === 'anthropic');
			// The owner sees why, and cannot switch it back on.
			expect(anthropic).toMatchObject({ isActive: false, disabledByAdmin: true });
			expect(await trpcFailure(as(user).keys.setActive({ id: anthropic!.id, active: true }))).toMatchObject({
				code: 'CONFLICT',
				reason: 'key_disabled_by_admin'
			});
		}
		// Other providers are untouched.
		const untouched = (rows: Awaited<ReturnType<typeof keySnapshot>>) => rows.filter((k) => k.provider !== 'anthropic');
		expect(untouched(await keySnapshot())).toEqual(untouched(before));
		expect(await routableKeyOf(db, alice.id, 'openai')).toBeDefined();
		expect(await routableKeyOf(db, bob.id, 'google')).toBeDefined();

		expect(await auditOf('admin.bulk_deactivate_keys')).toEqual([
			expect.objectContaining({
				actor_user_id: admin.id,
				subject_user_id: null,
				provider: 'anthropic',
				key_id: null,
				ip: '192.0.2.80',
				details: { keys: 3, users: 3, activeKeys: 2 }
			})
		]);

		// Again: nothing is left to switch off, which is not an error.
		const again = await as(admin).admin.bulkDeactivateKeys({ provider: 'anthropic', dryRun: true });
		expect(again).toMatchObject({ keys: 0, users: 0, activeKeys: 0 });
		expect(again.notice).toBe('No Anthropic key is left to switch off; nothing would change.');
	});

	it('routes a chat of a user whose key was switched off in bulk as for an admin-deactivated key', async () => {
		const user = await userWithKeys('chatter', ['openai']);
		await as(admin).admin.bulkDeactivateKeys({ provider: 'openai', dryRun: false });
		const session = await startChat(chatDeps(services), {
			principal: { kind: 'session', userId: user.id },
			modelId: 'openai/gpt-4o-mini',
			messages: [{ role: 'user', content: 'Still there?' }],
			stream: false,
			api: 'web',
			requestId: randomUUID(),
			signal: new AbortController().signal
		});
		expect(session).toMatchObject({ keySource: 'app', servedBy: 'openrouter', fallback: { reason: 'no_key' } });
		for await (const event of session.events) void event;
	});

	it('marks one provider’s keys due for the revalidation job, which then re-checks them', async () => {
		const erin = await userWithKeys('erin', ['openrouter', 'google']);
		const { user: frank, keys: frankKeys } = await userAndKeys('frank', ['openrouter']);
		const dueOf = async (provider: Provider) =>
			(await keySnapshot()).filter((k) => k.provider === provider).map((k) => k.next_validation_at.getTime());
		expect((await dueOf('openrouter')).every((at) => at > Date.now() + 3_600_000)).toBe(true);

		const before = await keySnapshot();
		const dry = await as(admin).admin.bulkRevalidateKeys({ provider: 'openrouter', dryRun: true });
		expect(dry).toEqual({
			provider: 'openrouter',
			dryRun: true,
			keys: 2,
			users: 2,
			alreadyDue: 0,
			notice: 'Would re-check 2 OpenRouter keys of 2 users.'
		});
		expect(await keySnapshot()).toEqual(before);
		expect(await auditOf('admin.bulk_revalidate_keys')).toEqual([]);

		const done = await as(admin).admin.bulkRevalidateKeys({ provider: 'openrouter', dryRun: false });
		expect(done).toMatchObject({ dryRun: false, keys: 2, users: 2, alreadyDue: 0 });
		expect((await dueOf('openrouter')).every((at) => at <= Date.now())).toBe(true);
		expect((await dueOf('google')).every((at) => at > Date.now() + 3_600_000)).toBe(true);
		expect(await auditOf('admin.bulk_revalidate_keys')).toEqual([
			expect.objectContaining({
				actor_user_id: admin.id,
				provider: 'openrouter',
				details: { keys: 2, users: 2, alreadyDue: 0 }
			})
		]);

		// Frank's key was revoked meanwhile: the job's next run finds out; only the marked keys come due.
		fake.registerKey('openrouter', frankKeys.openrouter!, '401');
		const summary = await revalidateDueKeys(services, { batchSize: 50 });
		expect(summary).toMatchObject({ claimed: 2, valid: 1, invalid: 1 });
		expect((await as(frank).keys.list())[0]).toMatchObject({ status: 'invalid', lastErrorCode: 'http_401' });
		expect((await as(erin).keys.list()).find((k) => k.provider === 'openrouter')).toMatchObject({ status: 'valid' });
	});

	it('refuses an unknown provider or a missing dryRun with a clear 400, changing nothing', async () => {
		await userWithKeys('grace', ['google']);
		const before = await keySnapshot();
		for (const procedure of ['bulkDeactivateKeys', 'bulkRevalidateKeys'] as const) {
			const call = as(admin).admin[procedure];
			expect(await trpcFailure(call({ provider: 'mistral' as Provider, dryRun: false }))).toMatchObject({
				code: 'BAD_REQUEST',
				message: 'provider must be one of openai, anthropic, google, openrouter.'
			});
			expect(await trpcFailure(call({ provider: 'google' } as { provider: Provider; dryRun: boolean }))).toMatchObject({
				code: 'BAD_REQUEST',
				message: 'dryRun is required: true only counts, false changes the keys.'
			});
		}
		expect(await keySnapshot()).toEqual(before);
		expect(await auditOf('admin.bulk_deactivate_keys')).toHaveLength(2);
	});

	it('refuses non-admins with FORBIDDEN, audits the attempt and changes nothing', async () => {
		const intruder = await userWithKeys('intruder', ['google']);
		const before = await keySnapshot();
		for (const procedure of ['bulkDeactivateKeys', 'bulkRevalidateKeys'] as const) {
			expect(
				await trpcFailure(as(intruder, '203.0.113.9').admin[procedure]({ provider: 'google', dryRun: false }))
			).toMatchObject({ code: 'FORBIDDEN', message: 'Only admins can do this.' });
		}
		expect(await trpcFailure(as(null).admin.bulkDeactivateKeys({ provider: 'google', dryRun: true }))).toMatchObject({
			code: 'UNAUTHORIZED'
		});
		expect(await keySnapshot()).toEqual(before);
		const refused = (await auditOf('admin.forbidden')).filter((e) => e.actor_user_id === intruder.id);
		expect(refused.map((e) => e.details.path)).toEqual([
			'/api/trpc/admin.bulkDeactivateKeys',
			'/api/trpc/admin.bulkRevalidateKeys'
		]);
	});
});
