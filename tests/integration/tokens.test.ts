import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import {
	authenticateBearer,
	listAccessTokens,
	revokeAccessToken,
	signUp,
	verifyAccessToken,
	MAX_ACTIVE_TOKENS_PER_USER,
	type AccountUser
} from '$lib/server/auth';
import { listAudit } from '$lib/server/audit';

import { createCaller } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { createAccessToken } from '../helpers/tokens';
import { recordSecret } from '../helpers/test-output';
import { appErrorFrom } from '../helpers/errors';

/** Where these sign-ups come from (sign-up is throttled per address). */
const LOCAL = { ip: '127.0.0.1' };

describeEachDatabase('personal access tokens', (database) => {
	let services: Services;
	let ada: AccountUser;
	let bob: AccountUser;

	const callerFor = (user: AccountUser) =>
		createCaller({ services, user, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
	const tokenRows = (userId: string) =>
		services.db.selectFrom('access_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();

	beforeAll(async () => {
		services = await testServices(database().handle);
		ada = (await signUp(services, { email: 'ada@example.com', password: 'analytical engine' }, LOCAL)).user;
		bob = (await signUp(services, { email: 'bob@example.com', password: 'bobs own password' }, LOCAL)).user;
	});

	it('returns the token once, shaped lk_<id>_<secret>, and lists it without the secret', async () => {
		const created = await callerFor(ada).tokens.create({ name: '  laptop  ', expiresInDays: 30 });
		recordSecret(created.token);
		expect(created.token).toMatch(/^lk_[A-Za-z0-9]{8}_[A-Za-z0-9]{43}$/);
		expect(created.name).toBe('laptop');
		expect(created.prefix).toBe(created.token.slice(0, 11));
		const days = ((created.expiresAt?.getTime() ?? 0) - created.createdAt.getTime()) / 86_400_000;
		expect(days).toBeCloseTo(30, 5);

		const list = await callerFor(ada).tokens.list();
		const listed = list.find((t) => t.id === created.id);
		expect(listed).toEqual({
			id: created.id,
			name: 'laptop',
			prefix: created.prefix,
			createdAt: created.createdAt,
			lastUsedAt: null,
			expiresAt: created.expiresAt,
			revokedAt: null,
			status: 'active',
			modelScope: null,
			dailyBudgetMicros: null,
			monthlyBudgetMicros: null,
			spentTodayMicros: 0,
			spentThisMonthMicros: 0
		});
		const secret = created.token.slice(12);
		const [row] = await tokenRows(ada.id);
		expect(JSON.stringify(list)).not.toContain(secret);
		expect(JSON.stringify(list)).not.toContain(row?.token_hash);
	});

	it('keeps no plaintext token in the database, only a hash', async () => {
		const { token } = await createAccessToken(services.db, ada.id, { name: 'scan me' });
		const secret = token.slice(12);
		const rows = await sql<Record<string, unknown>>`select * from access_tokens`.execute(services.db);
		const dump = JSON.stringify(rows.rows);
		expect(dump).not.toContain(token);
		expect(dump).not.toContain(secret);
		const row = rows.rows.find((r) => r.name === 'scan me');
		expect(row?.token_hash).toMatch(/^[0-9a-f]{64}$/);
		expect(row?.expires_at).toBeNull();
	});

	it('accepts a valid token and names its owner', async () => {
		const { id, token } = await createAccessToken(services.db, bob.id, { name: 'ci' });
		expect(await verifyAccessToken(services.db, token)).toEqual({
			userId: bob.id,
			email: 'bob@example.com',
			role: 'user',
			tokenId: id,
			modelScope: null
		});
		expect((await authenticateBearer(services.db, `Bearer ${token}`)).userId).toBe(bob.id);
	});

	it('rejects a wrong secret with a valid id, and garbage of any size', async () => {
		const { token } = await createAccessToken(services.db, bob.id, { name: 'tamper' });
		const last = token.at(-1) === 'A' ? 'B' : 'A';
		const wrongSecret = `${token.slice(0, -1)}${last}`;
		for (const bearer of [wrongSecret, 'lk_', '', 'x'.repeat(10_000), `${token} `, ` ${token}`, token.toUpperCase()]) {
			expect(await verifyAccessToken(services.db, bearer)).toBeNull();
		}
		expect(await verifyAccessToken(services.db, token)).not.toBeNull();
		const missing = await appErrorFrom(authenticateBearer(services.db, null));
		expect(missing.status).toBe(401);
		const wrong = await appErrorFrom(authenticateBearer(services.db, `Bearer ${wrongSecret}`));
		expect(wrong.status).toBe(401);
		expect(wrong.message).not.toContain(wrongSecret);
	});

	it('rejects a revoked token and shows it as revoked', async () => {
		const caller = callerFor(bob);
		const { id, token } = await caller.tokens.create({ name: 'to revoke' });
		recordSecret(token);
		expect(await verifyAccessToken(services.db, token)).not.toBeNull();
		const revoked = await caller.tokens.revoke({ id });
		expect(revoked).toMatchObject({ id, status: 'revoked' });
		expect(revoked.revokedAt).toBeInstanceOf(Date);
		expect(await verifyAccessToken(services.db, token)).toBeNull();
		// Revoking again succeeds and keeps the first revocation time.
		expect((await caller.tokens.revoke({ id })).revokedAt).toEqual(revoked.revokedAt);
		const audit = await listAudit(services.db, { subjectUserId: bob.id, action: 'token.revoke' });
		expect(audit.entries.filter((e) => e.details.tokenId === id)).toHaveLength(1);
		expect((await caller.tokens.list()).find((t) => t.id === id)?.status).toBe('revoked');
	});

	it('rejects an expired token and shows it as expired', async () => {
		const { id, token } = await createAccessToken(services.db, bob.id, { name: 'short lived', expiresInDays: 1 });
		expect(await verifyAccessToken(services.db, token)).not.toBeNull();
		await services.db
			.updateTable('access_tokens')
			.set({ expires_at: new Date(Date.now() - 1000) })
			.where('id', '=', id)
			.execute();
		expect(await verifyAccessToken(services.db, token)).toBeNull();
		expect((await listAccessTokens(services.db, bob.id)).find((t) => t.id === id)?.status).toBe('expired');
	});

	it("answers another user's token id with NOT_FOUND and leaves it working", async () => {
		const { id, token } = await createAccessToken(services.db, bob.id, { name: 'bobs' });
		await expect(callerFor(ada).tokens.revoke({ id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
		const direct = await appErrorFrom(revokeAccessToken(services.db, ada.id, { id }));
		expect(direct.status).toBe(404);
		await expect(callerFor(ada).tokens.revoke({ id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
			code: 'NOT_FOUND'
		});
		expect(await verifyAccessToken(services.db, token)).not.toBeNull();
		expect((await callerFor(ada).tokens.list()).map((t) => t.id)).not.toContain(id);
	});

	it('refuses anonymous callers', async () => {
		const anonymous = createCaller({ services, user: null, sessionId: null, ip: '127.0.0.1', requestId: 'test' });
		await expect(anonymous.tokens.list()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
		await expect(anonymous.tokens.create({ name: 'nope' })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
	});

	it.each([
		[{ name: '' }, /Give the token a name/],
		[{ name: '    ' }, /Give the token a name/],
		[{}, /Give the token a name/],
		[{ name: 'x'.repeat(101) }, /at most 100 characters/],
		[{ name: 'two\nlines' }, /control characters/],
		[{ name: 'ok', expiresInDays: 0 }, /from 1 to 365/],
		[{ name: 'ok', expiresInDays: 366 }, /from 1 to 365/],
		[{ name: 'ok', expiresInDays: 1.5 }, /from 1 to 365/],
		[{ name: 'ok', expiresInDays: '30' }, /from 1 to 365/],
		[{ name: 'ok', userId: 'someone else' }, /Unknown field: userId/]
	])('refuses bad create input %# with a clear 400 and creates nothing', async (input, message) => {
		const before = (await tokenRows(ada.id)).length;
		const direct = await appErrorFrom(createAccessToken(services.db, ada.id, input));
		expect(direct.status).toBe(400);
		expect(direct.message).toMatch(message);
		// The same through tRPC, as a client would see it.
		await expect(callerFor(ada).tokens.create(input as { name: string })).rejects.toMatchObject({
			code: 'BAD_REQUEST',
			message: expect.stringMatching(message)
		});
		expect((await tokenRows(ada.id)).length).toBe(before);
	});

	it('refuses a revoke with a malformed id as a 400', async () => {
		await expect(callerFor(ada).tokens.revoke({ id: 'not-a-uuid' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
	});

	it('refuses the 21st active token with a clear 400, and allows one again after a revoke', async () => {
		const carol = (await signUp(services, { email: 'carol@example.com', password: 'carols password' }, LOCAL)).user;
		const caller = callerFor(carol);
		const created = [];
		for (let i = 0; i < MAX_ACTIVE_TOKENS_PER_USER; i++) created.push(await caller.tokens.create({ name: `t${i}` }));
		for (const { token } of created) recordSecret(token);
		const error = await appErrorFrom(createAccessToken(services.db, carol.id, { name: 'one too many' }));
		expect(error.status).toBe(400);
		expect(error.message).toMatch(/already have 20 active access tokens/);
		expect((await tokenRows(carol.id)).length).toBe(MAX_ACTIVE_TOKENS_PER_USER);

		const first = created[0];
		if (!first) throw new Error('no token created');
		await caller.tokens.revoke({ id: first.id });
		recordSecret((await caller.tokens.create({ name: 'replacement' })).token);
		expect((await caller.tokens.list()).filter((t) => t.status === 'active')).toHaveLength(MAX_ACTIVE_TOKENS_PER_USER);
	});

	it('holds the limit when many creates race', async () => {
		const dave = (await signUp(services, { email: 'dave@example.com', password: 'daves password' }, LOCAL)).user;
		const results = await Promise.allSettled(
			Array.from({ length: 30 }, (_, i) => createAccessToken(services.db, dave.id, { name: `race ${i}` }))
		);
		expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(MAX_ACTIVE_TOKENS_PER_USER);
		expect((await tokenRows(dave.id)).length).toBe(MAX_ACTIVE_TOKENS_PER_USER);
	});

	it('records creation and revocation in the audit log, without the secret', async () => {
		const { id, token, prefix } = await createAccessToken(
			services.db,
			ada.id,
			{ name: 'audited', expiresInDays: 7 },
			{ ip: '203.0.113.7' }
		);
		await revokeAccessToken(services.db, ada.id, { id }, { ip: '203.0.113.8' });
		const { entries } = await listAudit(services.db, { subjectUserId: ada.id });
		const mine = entries.filter((e) => e.details.tokenId === id);
		expect(mine.map((e) => [e.action, e.actorUserId, e.ip, e.details.prefix])).toEqual([
			['token.revoke', ada.id, '203.0.113.8', prefix],
			['token.create', ada.id, '203.0.113.7', prefix]
		]);
		expect(JSON.stringify(entries)).not.toContain(token.slice(12));
	});

	it('records last use, at most once a minute', async () => {
		const { id, token } = await createAccessToken(services.db, ada.id, { name: 'busy client' });
		const lastUsed = async () =>
			(
				await services.db
					.selectFrom('access_tokens')
					.select('last_used_at')
					.where('id', '=', id)
					.executeTakeFirstOrThrow()
			).last_used_at;
		expect(await lastUsed()).toBeNull();
		await verifyAccessToken(services.db, token);
		const first = await lastUsed();
		expect(first).toBeInstanceOf(Date);
		await verifyAccessToken(services.db, token);
		await verifyAccessToken(services.db, token);
		expect(await lastUsed()).toEqual(first);

		const twoMinutesAgo = new Date(Date.now() - 120_000);
		await services.db.updateTable('access_tokens').set({ last_used_at: twoMinutesAgo }).where('id', '=', id).execute();
		await verifyAccessToken(services.db, token);
		const later = await lastUsed();
		expect(later?.getTime()).toBeGreaterThan(twoMinutesAgo.getTime() + 60_000);
		expect((await listAccessTokens(services.db, ada.id)).find((t) => t.id === id)?.lastUsedAt).toEqual(later);
	});

	it('does not record use for a wrong secret', async () => {
		const { id, token } = await createAccessToken(services.db, ada.id, { name: 'untouched' });
		await verifyAccessToken(services.db, `${token.slice(0, -1)}${token.at(-1) === 'A' ? 'B' : 'A'}`);
		const row = await services.db
			.selectFrom('access_tokens')
			.select('last_used_at')
			.where('id', '=', id)
			.executeTakeFirstOrThrow();
		expect(row.last_used_at).toBeNull();
	});

	it("deletes a user's tokens with the user", async () => {
		const erin = (await signUp(services, { email: 'erin@example.com', password: 'erins password' }, LOCAL)).user;
		const { token } = await createAccessToken(services.db, erin.id, { name: 'gone soon' });
		await services.db.deleteFrom('users').where('id', '=', erin.id).execute();
		expect(await tokenRows(erin.id)).toEqual([]);
		expect(await verifyAccessToken(services.db, token)).toBeNull();
	});
});
