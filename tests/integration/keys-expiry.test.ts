import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Provider } from '$lib/server/config';
import { revalidateDueKeys, warnExpiringKeys } from '$lib/server/keys';
import {
	listModelsForUser,
	setFallbackPreference,
	startChat,
	type ChatSession,
	type Principal
} from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { appErrorFrom } from '../helpers/errors';
import { testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, keyRows, testKey, trpcFailure, type TestUser } from './keys-fixtures';

const APP_KEY = 'sk-or-v1-appkeyexpiry0123456789abcdefghijklmnopqrstuvwxyz';
const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;

async function drain(session: ChatSession): Promise<string> {
	let text = '';
	for await (const event of session.events) if (event.type === 'delta') text += event.text;
	return text;
}

describeEachDatabase('key expiry', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, { ...fakeEnv(fake), OPENROUTER_API_KEY: APP_KEY });
	});
	afterAll(async () => {
		await fake.close();
	});
	beforeEach(() => {
		fake.registerKey('openrouter', APP_KEY, 'ok');
	});

	async function userWithKey(
		name: string,
		expiry: { expiresIn?: '12h' | '1d' | '7d' | 'never'; expiresAt?: Date } = {},
		provider: Provider = 'openai'
	): Promise<{ user: TestUser; keyId: string }> {
		const user = await createUser(services.db, name);
		const apiKey = testKey(provider, 'exp');
		fake.registerKey(provider, apiKey, 'ok');
		const { key } = await callerFor(services, user).keys.upsert({ provider, apiKey, ...expiry });
		return { user, keyId: key.id };
	}

	/** Moves a key's expiry into the past, as time passing would. */
	const expireNow = (keyId: string) =>
		services.db
			.updateTable('provider_keys')
			.set({ expires_at: sql<Date>`now() - interval '1 minute'`, expiry_warn_at: null })
			.where('id', '=', keyId)
			.execute();

	const chat = (principal: Principal) =>
		startChat(chatDeps(services), {
			principal,
			modelId: 'openai/gpt-4o-mini',
			messages: [{ role: 'user', content: 'Does my key still work?' }],
			stream: true,
			api: 'web',
			requestId: randomUUID(),
			signal: new AbortController().signal
		});
	const asUser = (user: TestUser): Principal => ({ kind: 'session', userId: user.id });

	const openAiCalls = () => fake.requests.filter((r) => r.kind === 'chat' && r.provider === 'openai').length;
	const reservationsOf = (user: TestUser) =>
		services.db.selectFrom('limit_reservations').select(['key_source']).where('user_id', '=', user.id).execute();

	it('uses a key whose expiry is still ahead, and lists when it expires', async () => {
		const before = Date.now();
		const { user } = await userWithKey('future', { expiresIn: '7d' });
		const [listed] = await callerFor(services, user).keys.list();
		expect(listed?.expired).toBe(false);
		expect(listed?.expiresAt?.getTime()).toBeGreaterThanOrEqual(before + 7 * DAY_MS - 60_000);
		expect(listed?.expiresAt?.getTime()).toBeLessThanOrEqual(Date.now() + 7 * DAY_MS + 60_000);
		const session = await chat(asUser(user));
		expect(session).toMatchObject({ keySource: 'user', servedBy: 'openai', fallback: null });
		await drain(session);
	});

	it('never uses an expired key: the app key answers and says the key expired', async () => {
		const { user, keyId } = await userWithKey('expired');
		await expireNow(keyId);
		const calls = openAiCalls();
		const session = await chat(asUser(user));
		expect(session).toMatchObject({ keySource: 'app', servedBy: 'openrouter' });
		expect(session.fallback).toEqual({
			reason: 'key_expired',
			message:
				"Your OpenAI key has expired, so the app's key answered. Replace it or change its expiry on the API keys page."
		});
		expect(await drain(session)).toContain('Hello from fake-openrouter');
		expect(openAiCalls()).toBe(calls);
		// The first statement did not admit the request for the expired key: only the app key reserved.
		expect(await reservationsOf(user)).toEqual([{ key_source: 'app' }]);
		const [listed] = await callerFor(services, user).keys.list();
		expect(listed).toMatchObject({ id: keyId, expired: true, status: 'valid' });
	});

	it('never uses an expired key behind an access token either', async () => {
		const { user, keyId } = await userWithKey('token');
		const { token } = await callerFor(services, user).tokens.create({ name: 'expiry test' });
		await expireNow(keyId);
		const calls = openAiCalls();
		const session = await chat({ kind: 'token', bearer: token, onTouchFailed: () => {} });
		expect(session).toMatchObject({ keySource: 'app', fallback: { reason: 'key_expired' } });
		await drain(session);
		expect(openAiCalls()).toBe(calls);
	});

	it('does not send an expired key to its provider for the scheduled check', async () => {
		const { keyId } = await userWithKey('recheck');
		await expireNow(keyId);
		const dueNow = { next_validation_at: sql<Date>`now() - interval '1 second'` };
		await services.db.updateTable('provider_keys').set(dueNow).where('id', '=', keyId).execute();
		const calls = fake.requests.length;
		expect((await revalidateDueKeys(services)).claimed).toBe(0);
		expect(fake.requests.length).toBe(calls);
	});

	it('refuses clearly when the key expired and fallback is off, reserving nothing', async () => {
		const { user, keyId } = await userWithKey('nofallback');
		await setFallbackPreference(services.db, user.id, { provider: 'openai', allowFallback: false });
		await expireNow(keyId);
		const refused = await appErrorFrom(chat(asUser(user)));
		expect(refused).toMatchObject({ code: 'bad_request', reason: 'no_key' });
		expect(refused.message).toBe(
			'Your OpenAI key has expired, and fallback to the app key is off for OpenAI. Add a key on the API keys page, or turn fallback on.'
		);
		expect(await reservationsOf(user)).toEqual([]);
	});

	it('shows the model list as the app key’s, or needing a key, once the key expired', async () => {
		const { user, keyId } = await userWithKey('models');
		const gpt = async () =>
			(await listModelsForUser(services.db, services.config, user.id)).find((m) => m.id === 'openai/gpt-4o-mini');
		expect(await gpt()).toMatchObject({ keySource: 'user', userHasKey: true });
		await expireNow(keyId);
		expect(await gpt()).toMatchObject({ keySource: 'app', userHasKey: false });
		await setFallbackPreference(services.db, user.id, { provider: 'openai', allowFallback: false });
		expect(await gpt()).toMatchObject({
			keySource: 'unavailable',
			userHasKey: false,
			warning: 'Needs your OpenAI key (fallback is off).'
		});
	});

	it('changes an expiry later, and clears it with "never"', async () => {
		const { user, keyId } = await userWithKey('change', { expiresIn: '12h' });
		const caller = callerFor(services, user);
		await expireNow(keyId);
		const at = new Date(Date.now() + 30 * DAY_MS);
		const changed = await caller.keys.setExpiry({ id: keyId, expiresAt: at.toISOString() });
		expect(changed).toMatchObject({ id: keyId, expired: false, expiresAt: at });
		expect(changed.notice).toBe(
			`Your OpenAI key (…${changed.last4}) now expires on ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC.`
		);
		expect((await chat(asUser(user))).keySource).toBe('user');
		const cleared = await caller.keys.setExpiry({ id: keyId, expiresIn: 'never' });
		expect(cleared).toMatchObject({ expiresAt: null, expired: false });
		const [row] = await keyRows(services.db, user.id);
		expect(row).toMatchObject({ expires_at: null, expiry_warn_at: null });
	});

	it('refuses a bad expiry with a clear error and changes nothing', async () => {
		const user = await createUser(services.db, 'bad');
		const caller = callerFor(services, user);
		const apiKey = testKey('openai', 'bad');
		fake.registerKey('openai', apiKey, 'ok');
		const calls = fake.requests.length;
		const past = await trpcFailure(
			caller.keys.upsert({ provider: 'openai', apiKey, expiresAt: new Date(Date.now() - HOUR_MS) })
		);
		expect(past).toMatchObject({ code: 'BAD_REQUEST' });
		expect(past.message).toMatch(/expiry is in the past/);
		expect(await keyRows(services.db, user.id)).toEqual([]);
		// Refused before the provider was asked.
		expect(fake.requests.length).toBe(calls);

		const { key } = await caller.keys.upsert({ provider: 'openai', apiKey, expiresIn: '1d' });
		const before = await keyRows(services.db, user.id);
		const attempts: unknown[] = [
			{ id: key.id, expiresAt: new Date(Date.now() - DAY_MS) },
			{ id: key.id, expiresAt: 'next tuesday' },
			{ id: key.id, expiresIn: '3w' },
			{ id: key.id, expiresIn: '7d', expiresAt: new Date(Date.now() + DAY_MS) },
			{ id: key.id }
		];
		const messages = [];
		for (const input of attempts) {
			// @ts-expect-error -- deliberately wrong input
			const failure = await trpcFailure(caller.keys.setExpiry(input));
			expect(failure.code).toBe('BAD_REQUEST');
			messages.push(failure.message);
		}
		expect(messages).toEqual([
			'That expiry is in the past (or less than a minute away): pick a later moment.',
			'expiresAt must be a date and time with its time zone, e.g. 2026-12-31T18:00:00Z.',
			'expiresIn must be one of 12h, 1d, 7d, never.',
			'Send either expiresIn or expiresAt, not both.',
			'Send expiresIn (12h, 1d, 7d, never) or expiresAt (a date and time, or null for never).'
		]);
		// Someone else's key is not found, and not changed either.
		const other = await createUser(services.db, 'other');
		const notFound = await trpcFailure(callerFor(services, other).keys.setExpiry({ id: key.id, expiresIn: 'never' }));
		expect(notFound.code).toBe('NOT_FOUND');
		expect(await keyRows(services.db, user.id)).toEqual(before);
	});

	it('warns once, when the smaller of 3 days and a quarter of the lifetime remains', async () => {
		const { user, keyId } = await userWithKey('warn', { expiresAt: new Date(Date.now() + 2 * DAY_MS) });
		const { keyId: longKey } = await userWithKey('warn-long', { expiresIn: '7d' });
		const warnGap = async (id: string) => {
			const [row] = await services.db
				.selectFrom('provider_keys')
				.select(['expires_at', 'expiry_warn_at'])
				.where('id', '=', id)
				.execute();
			return row!.expires_at!.getTime() - row!.expiry_warn_at!.getTime();
		};
		// Two days ahead: warned 12 hours before; seven days ahead: 3 days before (within a minute).
		expect(Math.abs((await warnGap(keyId)) - 12 * HOUR_MS)).toBeLessThan(60_000);
		expect(Math.abs((await warnGap(longKey)) - 42 * HOUR_MS)).toBeLessThan(60_000);

		const caller = callerFor(services, user);
		const expiring = async () => (await caller.notifications.list({})).filter((n) => n.kind === 'key_expiring');
		await warnExpiringKeys(services.db);
		expect(await expiring()).toEqual([]);

		const dueNow = () =>
			services.db
				.updateTable('provider_keys')
				.set({ expiry_warn_at: sql<Date>`now() - interval '1 second'` })
				.where('id', '=', keyId)
				.execute();
		await dueNow();
		await warnExpiringKeys(services.db);
		await warnExpiringKeys(services.db);
		const [row] = await keyRows(services.db, user.id);
		const when = row!.expires_at!.toISOString().slice(0, 16).replace('T', ' ');
		expect((await expiring()).map((n) => n.message)).toEqual([
			`Your OpenAI key (…${row!.last4}) expires on ${when} UTC; after that it is not used. Replace it or change its expiry on the API keys page.`
		]);

		// A new expiry is a new warning, once again.
		await caller.keys.setExpiry({ id: keyId, expiresIn: '1d' });
		await dueNow();
		await warnExpiringKeys(services.db);
		await warnExpiringKeys(services.db);
		expect(await expiring()).toHaveLength(2);

		// A key that expired before its warning went out is not warned about.
		const { user: late, keyId: lateKey } = await userWithKey('late', { expiresIn: '1d' });
		await expireNow(lateKey);
		await services.db
			.updateTable('provider_keys')
			.set({ expiry_warn_at: sql<Date>`expires_at - interval '1 hour'` })
			.where('id', '=', lateKey)
			.execute();
		await warnExpiringKeys(services.db);
		expect(await callerFor(services, late).notifications.list({})).toEqual([]);
	});
});
