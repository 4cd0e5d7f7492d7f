import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import superjson from 'superjson';
import type { Provider } from '$lib/server/config';
import type { Database, KeyStatus } from '$lib/server/db';
import type { Services } from '$lib/server/services';
import { createCaller, type SessionUser } from '$lib/server/trpc';
import { insertUsageRecord, type UsageRecord } from '$lib/server/usage';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { fakeEnv, routableKeyOf, testKey, trpcFailure } from './keys-fixtures';
import { usageRecord } from '../helpers/usage';

let fake: FakeProviders;
beforeAll(async () => {
	fake = await startFakeProviders();
});
afterAll(async () => {
	await fake.close();
});

async function createAccount(
	db: Kysely<Database>,
	name: string,
	role: 'user' | 'admin' = 'user'
): Promise<SessionUser> {
	return db
		.insertInto('users')
		.values({ email: `${name}-${randomUUID().slice(0, 8)}@example.com`, password_hash: 'not used', role })
		.returning(['id', 'email', 'role'])
		.executeTakeFirstOrThrow();
}

const usage = (userId: string, overrides: Partial<UsageRecord> = {}) =>
	usageRecord(userId, { costMicros: 1_000, ...overrides });

/** A key row with placeholder sealed bytes, for tests about metadata and status only. */
async function insertKey(
	db: Kysely<Database>,
	userId: string,
	provider: Provider,
	status: KeyStatus,
	isActive = true
): Promise<string> {
	const row = await db
		.insertInto('provider_keys')
		.values({
			user_id: userId,
			provider,
			last4: 'abcd',
			ciphertext: randomBytes(48),
			nonce: randomBytes(24),
			master_key_id: 'test1',
			fingerprint: randomBytes(32),
			status,
			is_active: isActive,
			next_validation_at: new Date(Date.now() + 86_400_000)
		})
		.returning('id')
		.executeTakeFirstOrThrow();
	return row.id;
}

describeEachDatabase('admin console (admin router)', (database) => {
	let services: Services;
	let db: Kysely<Database>;
	let admin: SessionUser;
	const as = (user: SessionUser | null, ip = '198.51.100.9') =>
		createCaller({ services, user, sessionId: null, ip, requestId: 'admin-test' });

	beforeAll(async () => {
		services = await testServices(database().handle, fakeEnv(fake));
		db = services.db;
		admin = await createAccount(db, 'root', 'admin');
	});

	/** A user with real sealed OpenAI and Anthropic keys, added through the keys router. */
	async function userWithKeys(name: string) {
		const user = await createAccount(db, name);
		const keys: Partial<Record<Provider, string>> = {};
		for (const provider of ['openai', 'anthropic'] as const) {
			const key = testKey(provider, name.replace(/\W/g, ''));
			fake.registerKey(provider, key, 'ok');
			await as(user).keys.upsert({ provider, apiKey: key, label: `${provider} work` });
			keys[provider] = key;
		}
		return { user, keys };
	}

	const auditOf = (filter: { action: string; subject?: string; actor?: string }) => {
		let query = db.selectFrom('audit_log').selectAll().where('action', '=', filter.action);
		if (filter.subject) query = query.where('subject_user_id', '=', filter.subject);
		if (filter.actor) query = query.where('actor_user_id', '=', filter.actor);
		return query.orderBy('id').execute();
	};

	it('lists users with their keys’ metadata and month-to-date spend by key source, never key material', async () => {
		const { user, keys } = await userWithKeys('directory');
		await insertUsageRecord(db, usage(user.id, { costMicros: 1_200 }));
		await insertUsageRecord(db, usage(user.id, { costMicros: 800 }));
		await insertUsageRecord(db, usage(user.id, { keySource: 'app', servedBy: 'openrouter', costMicros: 300 }));
		// Last month does not count.
		const lastMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) - 3_600_000);
		await insertUsageRecord(db, usage(user.id, { costMicros: 99_999, createdAt: lastMonth }));

		const page = await as(admin).admin.users({ search: user.email.slice(0, 14).toUpperCase() });
		expect(page.total).toBe(1);
		const listed = page.users[0]!;
		expect(listed).toMatchObject({ id: user.id, email: user.email, role: 'user' });
		expect(listed.monthToDate).toEqual({
			user: { requests: 2, costMicros: 2_000 },
			app: { requests: 1, costMicros: 300 }
		});
		expect(listed.keys.map((k) => [k.provider, k.label, k.last4, k.status, k.isActive])).toEqual([
			['anthropic', 'anthropic work', keys.anthropic!.slice(-4), 'valid', true],
			['openai', 'openai work', keys.openai!.slice(-4), 'valid', true]
		]);

		const details = await as(admin).admin.user({ id: user.id });
		expect(details.user.email).toBe(user.email);
		expect(details.usage.monthToDate.totals).toEqual(
			expect.arrayContaining([expect.objectContaining({ provider: 'openai', keySource: 'user', costMicros: 2_000 })])
		);
		expect(details.limits.providers.map((p) => p.provider)).toEqual(['openai', 'anthropic', 'google', 'openrouter']);

		// Nothing that could open or identify a key leaves: scan everything both answers carry.
		const stored = await db.selectFrom('provider_keys').selectAll().where('user_id', '=', user.id).execute();
		for (const answer of [page, details]) {
			const json = superjson.stringify(answer);
			for (const key of Object.values(keys)) expect(json).not.toContain(key!.slice(0, 20));
			expect(json).not.toMatch(/ciphertext|nonce|fingerprint|master_?key/i);
			for (const row of stored) {
				for (const bytes of [row.ciphertext, row.nonce, row.fingerprint]) {
					expect(json).not.toContain(Buffer.from(bytes).toString('base64'));
					expect(json).not.toContain(Buffer.from(bytes).toString('hex'));
				}
			}
		}
	});

	it('searches emails case-insensitively, treats % and _ literally, and pages in email order', async () => {
		const tag = `pager${randomUUID().slice(0, 6)}`;
		for (const name of ['c', 'a', 'b']) await createAccount(db, `${tag}-${name}`);
		const first = await as(admin).admin.users({ search: tag, pageSize: 2 });
		expect(first).toMatchObject({ total: 3, page: 1, pageSize: 2, pageCount: 2 });
		expect(first.users.map((u) => u.email.slice(tag.length + 1, tag.length + 2))).toEqual(['a', 'b']);
		const second = await as(admin).admin.users({ search: tag, pageSize: 2, page: 2 });
		expect(second.users.map((u) => u.email.slice(tag.length + 1, tag.length + 2))).toEqual(['c']);
		expect((await as(admin).admin.users({ search: '%' })).total).toBe(0);
		expect((await as(admin).admin.users({ search: `${tag}_` })).total).toBe(0);
	});

	it('switches off one key of a user, audits it with the admin as actor, and routing stops using it', async () => {
		const { user } = await userWithKeys('incident-one');
		const openai = (await as(user).keys.list()).find((k) => k.provider === 'openai')!;
		const result = await as(admin, '192.0.2.44').admin.disableKey({ keyId: openai.id });
		expect(result).toMatchObject({ userId: user.id, changed: true, key: { id: openai.id, isActive: false } });
		expect(await routableKeyOf(db, user.id, 'openai')).toBeUndefined();
		expect(await routableKeyOf(db, user.id, 'anthropic')).toBeDefined();

		const entries = await auditOf({ action: 'key.deactivate', subject: user.id });
		expect(entries).toHaveLength(1);
		expect(entries[0]).toMatchObject({
			actor_user_id: admin.id,
			subject_user_id: user.id,
			provider: 'openai',
			key_id: openai.id,
			ip: '192.0.2.44',
			details: { by: 'admin', scope: 'key' }
		});

		// Again: nothing changes and nothing more is audited.
		expect((await as(admin).admin.disableKey({ keyId: openai.id })).changed).toBe(false);
		expect(await auditOf({ action: 'key.deactivate', subject: user.id })).toHaveLength(1);

		// The owner cannot switch it back on; they see why, and replacing the key works.
		const reactivate = await trpcFailure(as(user).keys.setActive({ id: openai.id, active: true }));
		expect(reactivate).toMatchObject({ code: 'CONFLICT', reason: 'key_disabled_by_admin' });
		expect(reactivate.message).toMatch(/An admin switched this key off/);
		expect((await as(user).keys.list()).find((k) => k.id === openai.id)).toMatchObject({
			isActive: false,
			disabledByAdmin: true
		});
		const fresh = testKey('openai', 'replaced');
		fake.registerKey('openai', fresh, 'ok');
		const replaced = await as(user).keys.upsert({ provider: 'openai', apiKey: fresh });
		expect(replaced.key).toMatchObject({ isActive: true, disabledByAdmin: false });
		expect(await routableKeyOf(db, user.id, 'openai')).toBeDefined();

		expect(await trpcFailure(as(admin).admin.disableKey({ keyId: randomUUID() }))).toMatchObject({
			code: 'NOT_FOUND'
		});
		expect(await trpcFailure(as(admin).admin.disableKey({ keyId: 'not-a-uuid' }))).toMatchObject({
			code: 'BAD_REQUEST',
			message: 'keyId must be a key id.'
		});
	});

	it('switches off all of a user’s keys at once, audits each, and leaves other users alone', async () => {
		const { user } = await userWithKeys('incident-all');
		const { user: bystander } = await userWithKeys('bystander');
		const result = await as(admin).admin.disableAllKeys({ userId: user.id });
		expect(result.deactivated.map((k) => [k.provider, k.isActive])).toEqual([
			['anthropic', false],
			['openai', false]
		]);
		expect((await as(user).keys.list()).every((k) => !k.isActive)).toBe(true);
		expect((await as(bystander).keys.list()).every((k) => k.isActive)).toBe(true);
		const entries = await auditOf({ action: 'key.deactivate', subject: user.id });
		expect(entries.map((e) => [e.provider, e.actor_user_id, e.details])).toEqual([
			['anthropic', admin.id, expect.objectContaining({ by: 'admin', scope: 'all' })],
			['openai', admin.id, expect.objectContaining({ by: 'admin', scope: 'all' })]
		]);

		// Nothing left to switch off is not an error.
		expect((await as(admin).admin.disableAllKeys({ userId: user.id })).deactivated).toEqual([]);
		expect(await trpcFailure(as(admin).admin.disableAllKeys({ userId: randomUUID() }))).toMatchObject({
			code: 'NOT_FOUND',
			message: 'There is no user with that id.'
		});
	});

	it('keeps a key an admin switched off refused after its owner removes it, until an admin lifts the block', async () => {
		const { user, keys } = await userWithKeys('blocked');
		const apiKey = keys.openai!;
		const openai = (await as(user).keys.list()).find((k) => k.provider === 'openai')!;
		await as(admin).admin.disableKey({ keyId: openai.id });
		await as(user).keys.remove({ id: openai.id });

		const mark = fake.requests.length;
		const refused = await trpcFailure(as(user).keys.upsert({ provider: 'openai', apiKey }));
		expect(refused).toMatchObject({ code: 'CONFLICT', reason: 'key_disabled_by_admin' });
		expect(refused.message).toBe(
			`An administrator switched this OpenAI key (…${apiKey.slice(-4)}) off; ask them to lift the block.`
		);
		expect(fake.requests.slice(mark)).toEqual([]);
		expect(await routableKeyOf(db, user.id, 'openai')).toBeUndefined();
		// Going through another key does not clear it either.
		const other = testKey('openai', 'other');
		fake.registerKey('openai', other, 'ok');
		await as(user).keys.upsert({ provider: 'openai', apiKey: other });
		expect(await trpcFailure(as(user).keys.upsert({ provider: 'openai', apiKey }))).toMatchObject({
			reason: 'key_disabled_by_admin'
		});

		const lifted = await as(admin, '192.0.2.45').admin.enableKey({ keyId: openai.id });
		expect(lifted).toEqual({ userId: user.id, key: null, changed: true });
		expect(await auditOf({ action: 'key.unblock', subject: user.id })).toEqual([
			expect.objectContaining({
				actor_user_id: admin.id,
				provider: 'openai',
				key_id: openai.id,
				ip: '192.0.2.45',
				details: { by: 'admin', stored: false, last4: apiKey.slice(-4) }
			})
		]);
		// Nothing is left of that key: lifting again is NOT_FOUND.
		expect(await trpcFailure(as(admin).admin.enableKey({ keyId: openai.id }))).toMatchObject({ code: 'NOT_FOUND' });
		const readded = await as(user).keys.upsert({ provider: 'openai', apiKey });
		expect(readded.key).toMatchObject({ isActive: true, disabledByAdmin: false, last4: apiKey.slice(-4) });
	});

	it('switches a still-stored key back on when an admin lifts the switch-off', async () => {
		const { user, keys } = await userWithKeys('lifted');
		await as(admin).admin.disableAllKeys({ userId: user.id });
		const anthropic = (await as(user).keys.list()).find((k) => k.provider === 'anthropic')!;
		const enabled = await as(admin).admin.enableKey({ keyId: anthropic.id });
		expect(enabled).toMatchObject({
			userId: user.id,
			changed: true,
			key: { id: anthropic.id, isActive: true, disabledByAdmin: false }
		});
		expect(await routableKeyOf(db, user.id, 'anthropic')).toMatchObject({ id: anthropic.id });
		expect(await as(admin).admin.enableKey({ keyId: anthropic.id })).toMatchObject({ changed: false });
		expect(await auditOf({ action: 'key.unblock', subject: user.id })).toHaveLength(1);
		expect(await routableKeyOf(db, user.id, 'openai')).toBeUndefined();
		// The owner may remove and re-add it again; the other key stays blocked.
		await as(user).keys.remove({ id: anthropic.id });
		expect((await as(user).keys.upsert({ provider: 'anthropic', apiKey: keys.anthropic! })).key.isActive).toBe(true);
		const openai = (await as(user).keys.list()).find((k) => k.provider === 'openai')!;
		await as(user).keys.remove({ id: openai.id });
		expect(await trpcFailure(as(user).keys.upsert({ provider: 'openai', apiKey: keys.openai! }))).toMatchObject({
			reason: 'key_disabled_by_admin'
		});
		expect(await trpcFailure(as(admin).admin.enableKey({ keyId: randomUUID() }))).toMatchObject({
			code: 'NOT_FOUND'
		});
	});

	it('refuses every admin procedure to a non-admin with FORBIDDEN and audits each attempt', async () => {
		const intruder = await createAccount(db, 'intruder');
		const victim = await createAccount(db, 'victim');
		const caller = as(intruder, '203.0.113.66');
		const attempts: [string, () => Promise<unknown>][] = [
			['admin.users', () => caller.admin.users()],
			['admin.user', () => caller.admin.user({ id: victim.id })],
			['admin.disableKey', () => caller.admin.disableKey({ keyId: randomUUID() })],
			['admin.disableAllKeys', () => caller.admin.disableAllKeys({ userId: victim.id })],
			['admin.enableKey', () => caller.admin.enableKey({ keyId: randomUUID() })],
			['admin.auditLog', () => caller.admin.auditLog()],
			['admin.analytics', () => caller.admin.analytics()],
			['admin.setLimits', () => caller.admin.setLimits({ userId: victim.id, provider: 'openai', requestsPerHour: 5 })]
		];
		for (const [, attempt] of attempts) {
			expect(await trpcFailure(attempt())).toMatchObject({ code: 'FORBIDDEN', message: 'Only admins can do this.' });
		}
		const entries = await auditOf({ action: 'admin.forbidden', actor: intruder.id });
		expect(entries.map((e) => e.details.path).sort()).toEqual(attempts.map(([path]) => `/api/trpc/${path}`).sort());
		expect(entries.every((e) => e.ip === '203.0.113.66' && e.subject_user_id === null)).toBe(true);

		// Signed out is a 401 with nobody to blame: nothing is audited.
		const before = (await auditOf({ action: 'admin.forbidden' })).length;
		expect(await trpcFailure(as(null).admin.users())).toMatchObject({ code: 'UNAUTHORIZED' });
		expect(await auditOf({ action: 'admin.forbidden' })).toHaveLength(before);
	});

	it('filters the audit log by action, user email, actor, provider and period, newest first, with cursor paging', async () => {
		const { user } = await userWithKeys('audited');
		await as(admin).admin.disableAllKeys({ userId: user.id });

		const byUser = await as(admin).admin.auditLog({ user: user.email.toUpperCase() });
		expect(byUser.entries.map((e) => [e.action, e.provider])).toEqual([
			['key.deactivate', 'openai'],
			['key.deactivate', 'anthropic'],
			['key.add', 'anthropic'],
			['key.add', 'openai']
		]);
		expect(byUser.entries[0]).toMatchObject({ actorEmail: admin.email, subjectEmail: user.email });

		const filtered = await as(admin).admin.auditLog({
			user: user.id,
			action: 'key.deactivate',
			provider: 'anthropic',
			actor: admin.email
		});
		expect(filtered.entries.map((e) => [e.action, e.provider])).toEqual([['key.deactivate', 'anthropic']]);

		const firstPage = await as(admin).admin.auditLog({ user: user.id, limit: 3 });
		expect(firstPage.entries).toHaveLength(3);
		const secondPage = await as(admin).admin.auditLog({ user: user.id, limit: 3, cursor: firstPage.nextCursor! });
		expect(secondPage.entries.map((e) => e.action)).toEqual(['key.add']);
		expect(secondPage.nextCursor).toBeNull();

		const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
		expect((await as(admin).admin.auditLog({ user: user.id, from: tomorrow })).entries).toEqual([]);
		expect((await as(admin).admin.auditLog({ user: user.id, to: tomorrow })).entries).toHaveLength(4);

		expect(await trpcFailure(as(admin).admin.auditLog({ user: 'nobody@example.com' }))).toMatchObject({
			code: 'BAD_REQUEST',
			message: 'No user has the email nobody@example.com.'
		});
		expect(await trpcFailure(as(admin).admin.auditLog({ from: '2026-02-30' }))).toMatchObject({
			code: 'BAD_REQUEST',
			message: 'from must be a date like 2026-01-31 or a UTC date-time like 2026-01-31T12:00:00Z.'
		});
	});

	it('computes adoption, validation success, fallback rate and reasons, and own versus app cost for a period', async () => {
		// A quiet period of its own: March 2025, nothing else in this file writes there.
		const at = (day: number, hour = 12) => new Date(Date.UTC(2025, 2, day, hour));
		const withValidKey = await createAccount(db, 'byok');
		const withInvalidKey = await createAccount(db, 'broken');
		const withKeySwitchedOff = await createAccount(db, 'paused');
		const withoutKey = await createAccount(db, 'nokey');
		const idleWithKey = await createAccount(db, 'idle');
		await insertKey(db, withValidKey.id, 'openai', 'valid');
		await insertKey(db, withInvalidKey.id, 'openai', 'invalid');
		await insertKey(db, withKeySwitchedOff.id, 'openai', 'valid', false);
		await insertKey(db, idleWithKey.id, 'anthropic', 'valid');

		const app = { keySource: 'app' as const, servedBy: 'openrouter' as const };
		for (const record of [
			usage(withValidKey.id, { costMicros: 3_000, createdAt: at(2) }),
			usage(withValidKey.id, { costMicros: 3_000, createdAt: at(3) }),
			usage(withInvalidKey.id, { ...app, costMicros: 200, fallbackReason: 'key_invalid', createdAt: at(3) }),
			usage(withKeySwitchedOff.id, { ...app, costMicros: 300, fallbackReason: 'no_key', createdAt: at(3) }),
			usage(withoutKey.id, { ...app, costMicros: 100, fallbackReason: 'no_key', createdAt: at(3) }),
			usage(withoutKey.id, { ...app, costMicros: 100, fallbackReason: 'rate_limited', createdAt: at(3) }),
			usage(withoutKey.id, {
				...app,
				success: false,
				costMicros: 0,
				errorCode: 'upstream_error',
				fallbackReason: 'all_failed',
				createdAt: at(3)
			}),
			// Outside the period.
			usage(withoutKey.id, { ...app, costMicros: 5_000, fallbackReason: 'no_key', createdAt: at(9) }),
			usage(idleWithKey.id, { costMicros: 5_000, createdAt: new Date(Date.UTC(2025, 1, 28, 23, 59)) })
		]) {
			await insertUsageRecord(db, record);
		}
		const validations: [Provider, string, Date][] = [
			['openai', 'valid', at(2)],
			['openai', 'valid', at(2)],
			['openai', 'invalid', at(4)],
			['openai', 'unverified', at(5)],
			['anthropic', 'valid', at(6)],
			['anthropic', 'invalid', at(20)] // outside
		];
		for (const [provider, result, when] of validations) {
			await db
				.insertInto('audit_log')
				.values({
					action: 'key.validate',
					provider,
					at: when,
					subject_user_id: withValidKey.id,
					details: JSON.stringify({ result, trigger: 'scheduled' })
				})
				.execute();
		}
		// Other actions are not validations.
		await db
			.insertInto('audit_log')
			.values({ action: 'key.add', provider: 'google', at: at(2), details: JSON.stringify({ status: 'valid' }) })
			.execute();

		const figures = await as(admin).admin.analytics({ from: '2025-03-01', to: '2025-03-07' });
		expect(figures.from).toEqual(new Date('2025-03-01T00:00:00Z'));
		expect(figures.to).toEqual(new Date('2025-03-08T00:00:00Z'));
		expect(figures.adoption).toMatchObject({
			activeUsers: 4,
			activeUsersWithValidKey: 1,
			activeUsersServedByOwnKey: 1,
			rate: 0.25
		});
		expect(figures.adoption.usersWithValidKey).toBeGreaterThanOrEqual(2);
		expect(figures.validation).toEqual([
			{ provider: 'openai', checks: 4, valid: 2, invalid: 1, unverified: 1, successRate: 0.5 },
			{ provider: 'anthropic', checks: 1, valid: 1, invalid: 0, unverified: 0, successRate: 1 },
			{ provider: 'google', checks: 0, valid: 0, invalid: 0, unverified: 0, successRate: null },
			{ provider: 'openrouter', checks: 0, valid: 0, invalid: 0, unverified: 0, successRate: null }
		]);
		expect(figures.fallback).toEqual({
			requests: 7,
			fallbacks: 5,
			rate: 5 / 7,
			reasons: [
				{ reason: 'no_key', count: 2 },
				{ reason: 'all_failed', count: 1 },
				{ reason: 'key_invalid', count: 1 },
				{ reason: 'rate_limited', count: 1 }
			]
		});
		expect(figures.cost).toMatchObject({
			ownKeyRequests: 2,
			appKeyRequests: 5,
			ownKeyMicros: 6_000,
			appKeyMicros: 700,
			totalMicros: 6_700,
			savingsMicros: 6_000,
			ownShare: 6_000 / 6_700
		});
		expect(figures.cost.byProvider).toEqual([
			{ provider: 'openai', keySource: 'app', requests: 5, costMicros: 700 },
			{ provider: 'openai', keySource: 'user', requests: 2, costMicros: 6_000 }
		]);
		expect(figures.daily.map((d) => d.day)).toEqual([
			'2025-03-01',
			'2025-03-02',
			'2025-03-03',
			'2025-03-04',
			'2025-03-05',
			'2025-03-06',
			'2025-03-07'
		]);
		expect(figures.daily[2]).toEqual({
			day: '2025-03-03',
			ownKeyRequests: 1,
			appKeyRequests: 5,
			ownKeyMicros: 3_000,
			appKeyMicros: 700,
			fallbacks: 5
		});
		expect(figures.daily[0]).toMatchObject({ ownKeyRequests: 0, appKeyRequests: 0, fallbacks: 0 });

		const empty = await as(admin).admin.analytics({ from: '2024-01-01', to: '2024-01-31' });
		expect(empty.adoption.rate).toBeNull();
		expect(empty.fallback.rate).toBeNull();
		expect(empty.cost.ownShare).toBeNull();
		expect(empty.daily).toHaveLength(31);
	});

	it('answers bad analytics periods with a clear 400', async () => {
		const failure = (input: Record<string, unknown>) => trpcFailure(as(admin).admin.analytics(input));
		expect(await failure({ from: '2025-03-10', to: '2025-03-01' })).toMatchObject({
			code: 'BAD_REQUEST',
			message: 'to must be after from.'
		});
		expect(await failure({ from: '2024-01-01', to: '2025-06-01' })).toMatchObject({
			code: 'BAD_REQUEST',
			message: 'The period can be at most 366 days; choose a shorter one.'
		});
		expect(await failure({ from: 'yesterday' })).toMatchObject({ code: 'BAD_REQUEST' });
	});
});
