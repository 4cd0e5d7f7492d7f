import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '$lib/server/audit';
import type { Provider } from '$lib/server/config';
import { AppError } from '$lib/server/errors';
import { markKeyInvalid, markKeyUsed } from '$lib/server/keys';
import type { Services } from '$lib/server/services';
import { freePort } from '../helpers/app-server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import {
	callerFor,
	createUser,
	fakeEnv,
	keyRows,
	PROVIDERS,
	routableKeyOf,
	testKey,
	trpcFailure,
	withActiveKey
} from './keys-fixtures';

let fake: FakeProviders;
beforeAll(async () => {
	fake = await startFakeProviders();
});
afterAll(async () => {
	await fake.close();
});

const METADATA_FIELDS = [
	'createdAt',
	'disabledByAdmin',
	'expired',
	'expiresAt',
	'id',
	'isActive',
	'label',
	'last4',
	'lastErrorCode',
	'lastUsedAt',
	'lastValidatedAt',
	'pinned',
	'position',
	'provider',
	'status'
];

describeEachDatabase('provider keys through the keys router', (database) => {
	let services: Services;
	beforeAll(async () => {
		services = await testServices(database().handle, fakeEnv(fake));
	});
	const requestsSince = (mark: number) => fake.requests.filter((r) => r.seq > mark);
	const lastSeq = () => fake.requests[fake.requests.length - 1]?.seq ?? 0;

	it('adds a key for each provider after the provider accepts it, and lists metadata only', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const keys = Object.fromEntries(PROVIDERS.map((p) => [p, testKey(p)])) as Record<Provider, string>;
		const mark = lastSeq();
		for (const provider of PROVIDERS) {
			fake.registerKey(provider, keys[provider], 'ok');
			const result = await caller.keys.upsert({ provider, apiKey: `  ${keys[provider]}\n`, label: ' Work ' });
			expect(result.replaced).toBe(false);
			expect(result.notice).toMatch(/accepted this key/);
			expect(result.key).toMatchObject({
				provider,
				label: 'Work',
				last4: keys[provider].slice(-4),
				status: 'valid',
				isActive: true,
				lastErrorCode: null
			});
			expect(result.key.lastValidatedAt).toBeInstanceOf(Date);
		}
		// One cheapest authenticated call per provider, each with that provider's key.
		const checks = requestsSince(mark);
		expect(checks.map((r) => [r.provider, r.kind, r.method, r.key])).toEqual(
			PROVIDERS.map((p) => [p, p === 'openrouter' ? 'key' : 'models', 'GET', keys[p].slice(-4)])
		);
		const list = await caller.keys.list();
		expect(list.map((k) => k.provider).sort()).toEqual([...PROVIDERS].sort());
		for (const entry of list) expect(Object.keys(entry).sort()).toEqual(METADATA_FIELDS);
		const text = JSON.stringify(list);
		for (const key of Object.values(keys)) expect(text).not.toContain(key.slice(0, 12));
	});

	const refusals: Array<[string, Provider, string, RegExp]> = [
		['a key for another provider', 'openai', testKey('anthropic'), /looks like an Anthropic key/],
		['a 10 kB key', 'openai', `sk-${'a'.repeat(10_240)}`, /too long for an API key/],
		['control characters', 'google', `AIza\u0007${'b'.repeat(35)}`, /control characters/],
		['an empty key', 'openrouter', '   ', /Paste your OpenRouter API key/]
	];
	it.each(refusals)(
		'refuses %s with a clear 400, storing nothing and calling no provider',
		async (_what, provider, key, message) => {
			const user = await createUser(services.db);
			const mark = lastSeq();
			const failure = await trpcFailure(callerFor(services, user).keys.upsert({ provider, apiKey: key }));
			expect(failure.code).toBe('BAD_REQUEST');
			expect(failure.message).toMatch(message);
			expect(failure.message).toMatch(/keys start with/);
			expect(await keyRows(services.db, user.id)).toEqual([]);
			expect(requestsSince(mark)).toEqual([]);
		}
	);

	it('refuses a key the provider rejects with a 400 naming the provider, and stores nothing', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const rejected = testKey('openai');
		fake.registerKey('openai', rejected, '401');
		const failure = await trpcFailure(caller.keys.upsert({ provider: 'openai', apiKey: rejected }));
		expect(failure).toMatchObject({ code: 'BAD_REQUEST', reason: 'key_rejected' });
		expect(failure.message).toMatch(/^OpenAI rejected this key \(401\)\..*nothing was saved/);
		// Google answers an unknown key with 400 API_KEY_INVALID, which is just as final.
		const google = await trpcFailure(caller.keys.upsert({ provider: 'google', apiKey: testKey('google') }));
		expect(google.message).toMatch(/^Google Gemini rejected this key \(400 API_KEY_INVALID\)/);
		const forbidden = testKey('anthropic');
		fake.registerKey('anthropic', forbidden, '403');
		expect((await trpcFailure(caller.keys.upsert({ provider: 'anthropic', apiKey: forbidden }))).code).toBe(
			'BAD_REQUEST'
		);
		expect(await keyRows(services.db, user.id)).toEqual([]);
		expect(await caller.keys.list()).toEqual([]);
	});

	it('stores a key as unverified when the provider fails or cannot be reached, and says so', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		// (The fakes answer key checks with 200 for every other behaviour, 429 included.)
		for (const behaviour of ['500', '503'] as const) {
			const key = testKey('openrouter');
			fake.registerKey('openrouter', key, behaviour);
			const result = await caller.keys.upsert({ provider: 'openrouter', apiKey: key });
			expect(result.key.status).toBe('unverified');
			expect(result.key.lastErrorCode).toBe(`http_${behaviour}`);
			expect(result.key.lastValidatedAt).toBeNull();
			expect(result.notice).toMatch(
				new RegExp(
					`OpenRouter could not be reached to check it \\(it answered ${behaviour}\\)\\. It will be checked again`
				)
			);
		}
		const closedPort = await freePort();
		const offline = await testServices(database().handle, {
			...fakeEnv(fake),
			ANTHROPIC_BASE_URL: `http://127.0.0.1:${closedPort}`
		});
		const result = await callerFor(offline, user).keys.upsert({ provider: 'anthropic', apiKey: testKey('anthropic') });
		expect(result.key).toMatchObject({ status: 'unverified', lastErrorCode: 'network' });
		expect(result.notice).toMatch(/Anthropic could not be reached to check it \(network error\)/);
		const rows = await keyRows(services.db, user.id);
		expect(rows.map((r) => [r.provider, r.status]).sort()).toEqual([
			['anthropic', 'unverified'],
			['openrouter', 'unverified']
		]);
		// Rechecked within the hour, not tomorrow.
		for (const row of rows) expect(row.next_validation_at.getTime() - Date.now()).toBeLessThanOrEqual(3_600_000);
	});

	it('replaces a provider’s key, keeping exactly one row and the label', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const first = testKey('openai');
		const second = testKey('openai');
		fake.registerKey('openai', first, 'ok');
		fake.registerKey('openai', second, 'ok');
		const added = await caller.keys.upsert({ provider: 'openai', apiKey: first, label: 'Personal' });
		const replaced = await caller.keys.upsert({ provider: 'openai', apiKey: second });
		expect(replaced.replaced).toBe(true);
		expect(replaced.notice).toMatch(`It replaces your previous key (…${first.slice(-4)})`);
		expect(replaced.key).toMatchObject({ label: 'Personal', last4: second.slice(-4), isActive: true });
		const rows = await keyRows(services.db, user.id);
		expect(rows).toHaveLength(1);
		expect(rows[0]?.id).toBe(replaced.key.id);
		expect(rows[0]?.id).not.toBe(added.key.id);
		await withActiveKey(services.db, services.keyring, { userId: user.id, provider: 'openai' }, (apiKey) =>
			expect(apiKey).toBe(second)
		);
		// Replacing a switched-off key gives an active one.
		await caller.keys.setActive({ id: replaced.key.id, active: false });
		const third = testKey('openai');
		fake.registerKey('openai', third, 'ok');
		expect((await caller.keys.upsert({ provider: 'openai', apiKey: third })).key.isActive).toBe(true);
		expect(await keyRows(services.db, user.id)).toHaveLength(1);
		// An explicit empty label clears it.
		const fourth = testKey('openai');
		fake.registerKey('openai', fourth, 'ok');
		expect((await caller.keys.upsert({ provider: 'openai', apiKey: fourth, label: '' })).key.label).toBeNull();
	});

	it('keeps one row when the same provider’s key is replaced by parallel requests', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const keys = Array.from({ length: 4 }, () => testKey('anthropic'));
		for (const key of keys) fake.registerKey('anthropic', key, 'ok');
		const results = await Promise.allSettled(
			keys.map((apiKey) => caller.keys.upsert({ provider: 'anthropic', apiKey }))
		);
		expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
		const rows = await keyRows(services.db, user.id);
		expect(rows).toHaveLength(1);
		expect(rows[0]?.is_active).toBe(true);
	});

	it('refuses the very same key a second time with a conflict and no provider call', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const key = testKey('google');
		fake.registerKey('google', key, 'ok');
		const stored = await caller.keys.upsert({ provider: 'google', apiKey: key });
		const mark = lastSeq();
		const failure = await trpcFailure(caller.keys.upsert({ provider: 'google', apiKey: ` ${key} ` }));
		expect(failure).toMatchObject({ code: 'CONFLICT', reason: 'key_already_saved' });
		expect(failure.message).toMatch(`This Google Gemini key (…${key.slice(-4)}) is already saved`);
		expect(requestsSince(mark)).toEqual([]);
		expect((await keyRows(services.db, user.id)).map((r) => r.id)).toEqual([stored.key.id]);
		// Another user may store the same key string: it is theirs to manage.
		const other = await createUser(services.db);
		expect((await callerFor(services, other).keys.upsert({ provider: 'google', apiKey: key })).key.status).toBe(
			'valid'
		);
	});

	it('removes a key, and a second removal is NOT_FOUND', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const key = testKey('openrouter');
		fake.registerKey('openrouter', key, 'ok');
		const { key: stored } = await caller.keys.upsert({ provider: 'openrouter', apiKey: key });
		expect(await caller.keys.remove({ id: stored.id })).toEqual({ id: stored.id, removed: true });
		expect(await caller.keys.list()).toEqual([]);
		expect((await trpcFailure(caller.keys.remove({ id: stored.id }))).code).toBe('NOT_FOUND');
	});

	it('switches a key off and on; routing sees only the active key', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const key = testKey('openai');
		fake.registerKey('openai', key, 'ok');
		const { key: stored } = await caller.keys.upsert({ provider: 'openai', apiKey: key });
		const off = await caller.keys.setActive({ id: stored.id, active: false });
		expect(off.isActive).toBe(false);
		expect(await routableKeyOf(services.db, user.id, 'openai')).toBeUndefined();
		const on = await caller.keys.setActive({ id: stored.id, active: true });
		expect(on.isActive).toBe(true);
		expect(await routableKeyOf(services.db, user.id, 'openai')).toMatchObject({ id: stored.id, status: 'valid' });
	});

	it('validate follows the provider’s answer, but never calls a key invalid because the provider was down', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user);
		const key = testKey('anthropic');
		fake.registerKey('anthropic', key, 'ok');
		const { key: stored } = await caller.keys.upsert({ provider: 'anthropic', apiKey: key });

		fake.registerKey('anthropic', key, '401');
		const rejected = await caller.keys.validate({ id: stored.id });
		expect(rejected.result).toBe('invalid');
		expect(rejected.key).toMatchObject({ status: 'invalid', lastErrorCode: 'http_401' });
		expect(rejected.notice).toMatch(/Anthropic rejected this key \(401\)/);
		// The bell says so too, once per key, however often the key is tested.
		await caller.keys.validate({ id: stored.id });
		expect((await caller.notifications.list({})).map((n) => n.kind)).toEqual(['key_invalid']);

		fake.registerKey('anthropic', key, 'ok');
		const back = await caller.keys.validate({ id: stored.id });
		expect(back.key).toMatchObject({ status: 'valid', lastErrorCode: null });

		fake.registerKey('anthropic', key, '503');
		const down = await caller.keys.validate({ id: stored.id });
		expect(down.result).toBe('unverified');
		expect(down.key.status).toBe('valid');
		expect(down.key.lastErrorCode).toBe('http_529'); // Anthropic's overloaded_error
		expect(down.key.lastValidatedAt).toEqual(back.key.lastValidatedAt);
		expect(down.notice).toMatch(/could not be reached.*keeps its last known status/);
	});

	it('answers NOT_FOUND for another user’s key id and leaves that key alone', async () => {
		const owner = await createUser(services.db, 'owner');
		const intruder = await createUser(services.db, 'intruder');
		const key = testKey('openai');
		fake.registerKey('openai', key, 'ok');
		const { key: stored } = await callerFor(services, owner).keys.upsert({ provider: 'openai', apiKey: key });
		const before = await keyRows(services.db, owner.id);
		const caller = callerFor(services, intruder);
		const mark = lastSeq();
		for (const attempt of [
			() => caller.keys.remove({ id: stored.id }),
			() => caller.keys.validate({ id: stored.id }),
			() => caller.keys.setActive({ id: stored.id, active: false })
		]) {
			const failure = await trpcFailure(attempt());
			expect(failure.code).toBe('NOT_FOUND');
			expect(failure.message).toBe('No such key. It may have been removed; reload the list.');
		}
		expect(await caller.keys.list()).toEqual([]);
		expect(await keyRows(services.db, owner.id)).toEqual(before);
		expect(requestsSince(mark)).toEqual([]);
	});

	it('requires a signed-in caller', async () => {
		const anonymous = callerFor(services, null);
		expect((await trpcFailure(anonymous.keys.list())).code).toBe('UNAUTHORIZED');
		expect((await trpcFailure(anonymous.keys.upsert({ provider: 'openai', apiKey: testKey('openai') }))).code).toBe(
			'UNAUTHORIZED'
		);
	});

	it('audits add, replace, validate, deactivate, activate and remove with actor, provider and IP, and no key material', async () => {
		const user = await createUser(services.db);
		const caller = callerFor(services, user, '198.51.100.23');
		const first = testKey('openai');
		const second = testKey('openai');
		fake.registerKey('openai', first, 'ok');
		fake.registerKey('openai', second, 'ok');
		await caller.keys.upsert({ provider: 'openai', apiKey: first });
		const { key } = await caller.keys.upsert({ provider: 'openai', apiKey: second });
		await caller.keys.validate({ id: key.id });
		await caller.keys.setActive({ id: key.id, active: false });
		await caller.keys.setActive({ id: key.id, active: true });
		await caller.keys.remove({ id: key.id });
		const { entries } = await listAudit(services.db, { subjectUserId: user.id });
		expect(entries.map((e) => e.action).reverse()).toEqual([
			'key.add',
			'key.replace',
			'key.validate',
			'key.deactivate',
			'key.activate',
			'key.remove'
		]);
		for (const entry of entries) {
			expect(entry).toMatchObject({
				actorUserId: user.id,
				subjectUserId: user.id,
				provider: 'openai',
				ip: '198.51.100.23'
			});
			expect(entry.at).toBeInstanceOf(Date);
		}
		expect(entries.find((e) => e.action === 'key.validate')?.details).toMatchObject({
			result: 'valid',
			trigger: 'user'
		});
		const text = JSON.stringify(entries);
		for (const apiKey of [first, second]) expect(text).not.toContain(apiKey.slice(0, 12));
		// Append-only: the database itself refuses to change or delete entries.
		await expect(services.db.updateTable('audit_log').set({ ip: null }).execute()).rejects.toThrow(/append-only/);
		await expect(services.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
	});

	it('gives routing the plaintext for one call, marks use, and marks a rejected key invalid once', async () => {
		const user = await createUser(services.db);
		const key = testKey('openrouter');
		fake.registerKey('openrouter', key, 'ok');
		const { key: stored } = await callerFor(services, user).keys.upsert({ provider: 'openrouter', apiKey: key });
		const seen = await withActiveKey(
			services.db,
			services.keyring,
			{ userId: user.id, provider: 'openrouter' },
			(apiKey, routable) => ({ same: apiKey === key, id: routable.id })
		);
		expect(seen).toEqual({ same: true, id: stored.id });
		await markKeyUsed(services.db, stored.id);
		expect((await routableKeyOf(services.db, user.id, 'openrouter'))?.lastUsedAt).toBeInstanceOf(Date);
		expect(await markKeyInvalid(services.db, stored.id, 'invalid_api_key')).toBe(true);
		expect(await markKeyInvalid(services.db, stored.id, 'invalid_api_key')).toBe(false);
		expect(await routableKeyOf(services.db, user.id, 'openrouter')).toMatchObject({
			status: 'invalid',
			lastErrorCode: 'invalid_api_key'
		});
		const { entries } = await listAudit(services.db, { subjectUserId: user.id, action: 'key.invalidate' });
		expect(entries).toHaveLength(1);
		expect(entries[0]).toMatchObject({ actorUserId: null, provider: 'openrouter', keyId: stored.id });
	});

	it('turns a database-level failure to open a key into a safe 500, not key material', async () => {
		const user = await createUser(services.db);
		const key = testKey('google');
		fake.registerKey('google', key, 'ok');
		const { key: stored } = await callerFor(services, user).keys.upsert({ provider: 'google', apiKey: key });
		// Someone copies another row's ciphertext in: it must not open for this user.
		const other = await createUser(services.db);
		const otherKey = testKey('google');
		fake.registerKey('google', otherKey, 'ok');
		await callerFor(services, other).keys.upsert({ provider: 'google', apiKey: otherKey });
		const [source] = await keyRows(services.db, other.id);
		await services.db
			.updateTable('provider_keys')
			.set({ ciphertext: source!.ciphertext, nonce: source!.nonce })
			.where('id', '=', stored.id)
			.execute();
		const failure = await trpcFailure(callerFor(services, user).keys.validate({ id: stored.id }));
		expect(failure).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', reason: 'vault_cannot_open' });
		expect(failure.message).toMatch(/can no longer be unsealed/);
		await expect(
			withActiveKey(services.db, services.keyring, { userId: user.id, provider: 'google' }, () => 'opened')
		).rejects.toBeInstanceOf(AppError);
	});
});
