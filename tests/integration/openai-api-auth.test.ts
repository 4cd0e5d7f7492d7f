import { afterAll, beforeAll, expect, it } from 'vitest';
import type { KyselyPlugin, UnknownRow } from 'kysely';
import { authenticateBearer } from '$lib/server/auth';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { markKeyInvalid } from '$lib/server/keys';
import {
	estimateChat,
	ownKeyAdmission,
	prepareChat,
	setFallbackPreference,
	type ChatEstimate
} from '$lib/server/routing';
import type { Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { appErrorFrom } from '../helpers/errors';
import { createAccessToken } from '../helpers/tokens';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

/** Keeps the rows the database returned (a real Kysely plugin on the real database, not a mock). */
function rowRecorder() {
	const rows: UnknownRow[] = [];
	const plugin: KyselyPlugin = {
		transformQuery: ({ node }) => node,
		transformResult: async ({ result }) => {
			rows.push(...result.rows);
			return result;
		}
	};
	return { rows, plugin };
}

describeEachDatabase("the API chat's first statement (token, routing facts and admission in one)", (database) => {
	let fake: FakeProviders;
	let services: Services;
	let ada: TestUser;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, fakeEnv(fake));
		ada = await createUser(services.db, 'ada');
		for (const provider of ['openai', 'anthropic'] as const) {
			const key = testKey(provider, 'auth');
			fake.registerKey(provider, key, 'ok');
			await callerFor(services, ada).keys.upsert({ provider, apiKey: key });
		}
		await setFallbackPreference(services.db, ada.id, { provider: 'anthropic', allowFallback: false });
	});
	afterAll(async () => {
		await fake.close();
	});

	const hello = [{ role: 'user' as const, content: 'hello' }];
	let gpt: ChatEstimate;
	beforeAll(async () => {
		gpt = await estimateChat({ modelId: 'openai/gpt-4o-mini', messages: hello });
	});

	/** The first statement for an access token, admitting `estimate` under `requestId`. */
	const prepareWithToken = (db: Kysely<Database>, bearer: string, requestId = randomUUID(), estimate = gpt) =>
		prepareChat(
			db,
			{ kind: 'token', bearer, onTouchFailed: () => {} },
			ownKeyAdmission(services.config.limitDefaults, requestId, estimate)
		);

	it('names the owner, as the plain token check does, with all of their keys and fallback preferences', async () => {
		const { token } = await createAccessToken(services.db, ada.id, { name: 'laptop' });
		const { owner, facts } = await prepareWithToken(services.db, token);
		const checked = await authenticateBearer(services.db, `Bearer ${token}`);
		expect(owner).toEqual({ userId: checked.userId, tokenId: checked.tokenId });
		expect(facts.keys.map((k) => k.provider).sort()).toEqual(['anthropic', 'openai']);
		expect(facts.keys.every((k) => k.sealed.ciphertext.length > 16)).toBe(true);
		expect([...facts.fallbackOff]).toEqual(['anthropic']);
	});

	it('reads no sealed key for a wrong secret, a revoked or an expired token, and answers 401', async () => {
		const wrong = await createAccessToken(services.db, ada.id, { name: 'wrong' });
		const last = wrong.token.at(-1) === 'A' ? 'B' : 'A';
		const revoked = await createAccessToken(services.db, ada.id, { name: 'revoked' });
		await callerFor(services, ada).tokens.revoke({ id: revoked.id });
		const expired = await createAccessToken(services.db, ada.id, { name: 'expired', expiresInDays: 1 });
		await services.db
			.updateTable('access_tokens')
			.set({ expires_at: new Date(Date.now() - 1000) })
			.where('id', '=', expired.id)
			.execute();

		for (const bearer of [`${wrong.token.slice(0, -1)}${last}`, revoked.token, expired.token]) {
			const recorder = rowRecorder();
			const error = await appErrorFrom(prepareWithToken(services.db.withPlugin(recorder.plugin), bearer));
			expect(error).toMatchObject({ status: 401, reason: 'invalid_token' });
			// The token's row came back (so the lookup ran), but no key material with it.
			expect(recorder.rows).toHaveLength(1);
			expect(recorder.rows[0]).toMatchObject({ id: null, ciphertext: null, nonce: null });
		}
	});

	it('answers a token of the wrong shape with 401 without asking the database', async () => {
		const recorder = rowRecorder();
		for (const bearer of ['lk_', 'sk-not-a-latchkey-token', 'x'.repeat(10_000)]) {
			const error = await appErrorFrom(prepareWithToken(services.db.withPlugin(recorder.plugin), bearer));
			expect(error).toMatchObject({ status: 401, reason: 'invalid_token' });
		}
		expect(recorder.rows).toEqual([]);
	});

	it('comes back with no keys and the fallback on for a user who has none', async () => {
		const bob = await createUser(services.db, 'bob');
		const { token } = await createAccessToken(services.db, bob.id, { name: 'ci' });
		const { owner, facts } = await prepareWithToken(services.db, token);
		expect(owner.userId).toBe(bob.id);
		expect(facts.keys).toEqual([]);
		expect(facts.fallbackOff.size).toBe(0);
	});

	async function reservationsOf(requestId: string) {
		return services.db
			.selectFrom('limit_reservations')
			.select(['request_id', 'user_id', 'key_source', 'provider', 'amount_micros', 'reserved_tokens'])
			.where('request_id', 'like', `${requestId}:%`)
			.execute();
	}

	it("admits the request for the owner's own key in the same statement, once however many keys come back", async () => {
		const { token } = await createAccessToken(services.db, ada.id, { name: 'admits' });
		const estimate = gpt;
		const requestId = randomUUID();
		const { owner, facts, admitted } = await prepareWithToken(services.db, token, requestId);
		expect(owner.userId).toBe(ada.id);
		expect(facts.keys).toHaveLength(2);
		expect(admitted).toMatchObject({ reservation_id: expect.any(String), requests_after: expect.any(Number) });
		expect(admitted?.now).toBeInstanceOf(Date);
		expect(admitted?.hour_start).toBeInstanceOf(Date);
		expect(await reservationsOf(requestId)).toEqual([
			{
				request_id: `${requestId}:0`,
				user_id: ada.id,
				key_source: 'user',
				provider: 'openai',
				amount_micros: estimate.reserveMicros,
				reserved_tokens: estimate.reserveTokens
			}
		]);
	});

	it('admits nothing for a wrong token, nor for an owner without a usable key of their own for the model', async () => {
		const wrong = await createAccessToken(services.db, ada.id, { name: 'wrong secret' });
		const last = wrong.token.at(-1) === 'A' ? 'B' : 'A';
		const wrongId = randomUUID();
		const error = await appErrorFrom(prepareWithToken(services.db, `${wrong.token.slice(0, -1)}${last}`, wrongId));
		expect(error).toMatchObject({ status: 401, reason: 'invalid_token' });
		expect(await reservationsOf(wrongId)).toEqual([]);

		// No Google key (and no OpenRouter key): the app's key would serve it, admitted by routing.
		const { token } = await createAccessToken(services.db, ada.id, { name: 'no google key' });
		const gemini = await estimateChat({ modelId: 'google/gemini-2.5-flash', messages: hello });
		const noKeyId = randomUUID();
		const noKey = await prepareWithToken(services.db, token, noKeyId, gemini);
		expect(noKey.admitted).toBeNull();
		expect(await reservationsOf(noKeyId)).toEqual([]);

		// A key the provider rejected is not used, so nothing is admitted for it.
		const cleo = await createUser(services.db, 'cleo');
		const key = testKey('openai', 'cleo');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, cleo).keys.upsert({ provider: 'openai', apiKey: key });
		const cleoKey = await services.db
			.selectFrom('provider_keys')
			.select('id')
			.where('user_id', '=', cleo.id)
			.executeTakeFirstOrThrow();
		await markKeyInvalid(services.db, cleoKey.id, 'invalid_api_key');
		const cleoToken = await createAccessToken(services.db, cleo.id, { name: 'invalid key' });
		const invalidId = randomUUID();
		const invalid = await prepareWithToken(services.db, cleoToken.token, invalidId);
		expect(invalid.facts.keys.map((k) => k.status)).toEqual(['invalid']);
		expect(invalid.admitted).toBeNull();
		expect(await reservationsOf(invalidId)).toEqual([]);
	});
});
