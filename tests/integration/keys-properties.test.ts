import fc from 'fast-check';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import type { Services } from '$lib/server/services';
import { appErrorOf } from '$lib/server/trpc';
import { countFromText, usdFromText } from '$lib/limit-text';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { callerFor, createUser, fakeEnv, keyRows, PROVIDERS, testKey, type TestUser } from './keys-fixtures';

let fake: FakeProviders;
beforeAll(async () => {
	fake = await startFakeProviders();
});
afterAll(async () => {
	await fake.close();
});

const CLIENT_ERRORS = new Set(['BAD_REQUEST', 'NOT_FOUND']);

/** Whatever the input, the call ends in a client error (never a 500) and changes nothing. */
async function onlyClientError(call: () => Promise<unknown>): Promise<string> {
	try {
		await call();
	} catch (error) {
		if (!(error instanceof TRPCError)) throw error;
		if (!CLIENT_ERRORS.has(error.code)) throw new Error(`answered ${error.code}: ${error.message}`, { cause: error });
		expect(error.message.length).toBeGreaterThan(0);
		return error.code;
	}
	throw new Error('accepted input it should have refused');
}

// Inputs close to valid ones are the interesting ones: real prefixes, odd characters, huge sizes.
const keyLike = fc.oneof(
	fc.string(),
	fc.string({ unit: 'binary', maxLength: 80 }),
	fc
		.constantFrom('sk-', 'sk-ant-', 'sk-or-', 'AIza', 'sk-proj-')
		.chain((prefix) =>
			fc
				.string({ unit: fc.constantFrom(...'abcXYZ019_-\u0000\n\t $é🔑'.split('')), maxLength: 120 })
				.map((rest) => prefix + rest)
		),
	fc.integer({ min: 1, max: 30_000 }).map((n) => 'sk-' + 'a'.repeat(n)),
	fc.anything()
);
const providerLike = fc.oneof(
	fc.constantFrom('openai', 'anthropic', 'google', 'openrouter'),
	fc.constantFrom('OpenAI', 'azure', '', ' openai'),
	fc.anything()
);
const idLike = (extra: string[]) =>
	fc.oneof(fc.uuid(), fc.constantFrom(...extra), fc.string(), fc.integer(), fc.anything());
/** What a person may type into a limit field of the keys page. */
const typedLimit = fc.oneof(
	fc.constantFrom('', ' ', '$2.50', '1,000', '0.000001', '-1', '1e3', '0x10', 'NaN', 'Infinity', '5.1234567'),
	fc.integer({ min: 0, max: 200 }).map(String),
	fc.integer({ min: 0, max: 20_000_000 }).map((micros) => `$${(micros / 1_000_000).toFixed(6)}`),
	fc.string({ maxLength: 12 }),
	fc.double().map(String)
);

const settingsOf = (db: Kysely<Database>, table: 'limit_settings' | 'routing_preferences', userId: string) =>
	db.selectFrom(table).selectAll().where('user_id', '=', userId).orderBy('provider').execute();

describeEachDatabase('the keys page’s procedures under arbitrary input', (database) => {
	let services: Services;
	let user: TestUser;
	let othersKeyId: string;
	beforeAll(async () => {
		services = await testServices(database().handle, fakeEnv(fake));
		user = await createUser(services.db);
		const other = await createUser(services.db, 'other');
		const mine = testKey('openai');
		const theirs = testKey('anthropic');
		fake.registerKey('openai', mine, 'ok');
		fake.registerKey('anthropic', theirs, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: mine });
		othersKeyId = (await callerFor(services, other).keys.upsert({ provider: 'anthropic', apiKey: theirs })).key.id;
	});

	const assertUnchanged = async (run: () => Promise<void>) => {
		const before = await keyRows(services.db);
		await run();
		expect(await keyRows(services.db)).toEqual(before);
	};

	it('keys.upsert answers bad input with a 4xx, never a 500, and stores nothing', async () => {
		const caller = callerFor(services, user);
		await assertUnchanged(() =>
			fc.assert(
				fc.asyncProperty(
					fc.oneof(
						fc.record(
							{
								provider: providerLike,
								apiKey: keyLike,
								label: fc.oneof(fc.string({ maxLength: 200 }), fc.anything())
							},
							{ requiredKeys: [] }
						),
						fc.record({ provider: providerLike, apiKey: keyLike, extra: fc.anything() }),
						fc.anything()
					),
					async (input) => {
						// Unregistered keys are refused by the fake provider: at worst a live 400.
						await onlyClientError(() => caller.keys.upsert(input as never));
					}
				),
				{ numRuns: 300 }
			)
		);
	});

	it('keys.remove, keys.validate and keys.setActive answer bad or foreign ids with a 4xx and change nothing', async () => {
		const caller = callerFor(services, user);
		const ids = idLike([othersKeyId, othersKeyId.toUpperCase(), `${othersKeyId} `, "' or 1=1 --"]);
		await assertUnchanged(async () => {
			await fc.assert(
				fc.asyncProperty(fc.oneof(fc.record({ id: ids }), fc.anything()), async (input) => {
					await onlyClientError(() => caller.keys.remove(input as never));
					await onlyClientError(() => caller.keys.validate(input as never));
				}),
				{ numRuns: 200 }
			);
			await fc.assert(
				fc.asyncProperty(
					fc.oneof(fc.record({ id: ids, active: fc.anything() }, { requiredKeys: [] }), fc.anything()),
					async (input) => {
						await onlyClientError(() => caller.keys.setActive(input as never));
					}
				),
				{ numRuns: 200 }
			);
		});
	});

	it('limits.set takes whatever the keys page sends from its fields: saved, or a 400 naming the field and nothing changed', async () => {
		const caller = callerFor(services, user);
		await fc.assert(
			fc.asyncProperty(
				fc.constantFrom(...PROVIDERS),
				typedLimit,
				typedLimit,
				typedLimit,
				async (provider, ownCap, appCap, perHour) => {
					const before = await settingsOf(services.db, 'limit_settings', user.id);
					const input = {
						provider,
						dailyCapUsd: usdFromText(ownCap),
						appDailyCapUsd: usdFromText(appCap),
						requestsPerHour: countFromText(perHour)
					};
					try {
						expect((await caller.limits.set(input)).notice).toMatch(/^Saved your .+ limits: /);
					} catch (error) {
						const refused = appErrorOf(error);
						expect(refused.status).toBe(400);
						expect(['dailyCapUsd', 'appDailyCapUsd', 'requestsPerHour']).toContain(refused.details?.field);
						expect(await settingsOf(services.db, 'limit_settings', user.id)).toEqual(before);
					}
				}
			),
			{ numRuns: 200 }
		);
	});

	it('models.setFallback answers bad input with a 4xx and changes nothing', async () => {
		const caller = callerFor(services, user);
		const before = await settingsOf(services.db, 'routing_preferences', user.id);
		await fc.assert(
			fc.asyncProperty(
				fc.oneof(
					fc.record(
						{ provider: providerLike, allowFallback: fc.anything().filter((value) => typeof value !== 'boolean') },
						{ requiredKeys: [] }
					),
					fc.record({
						provider: providerLike,
						allowFallback: fc.boolean(),
						extra: fc.anything().filter((value) => value !== undefined)
					}),
					fc.anything()
				),
				async (input) => {
					await onlyClientError(() => caller.models.setFallback(input as never));
				}
			),
			{ numRuns: 200 }
		);
		expect(await settingsOf(services.db, 'routing_preferences', user.id)).toEqual(before);
	});
});
