import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type {
	KyselyPlugin,
	PluginTransformQueryArgs,
	PluginTransformResultArgs,
	QueryResult,
	RootOperationNode,
	UnknownRow
} from 'kysely';
import { handleChatCompletions } from '$lib/server/openai-api';
import { startChat, type ChatDeps, type ChatSession } from '$lib/server/routing';
import { chatDeps, type Services } from '$lib/server/services';
import { UsageWriter } from '$lib/server/usage';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { createAccessToken } from '../helpers/tokens';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

/**
 * The accounting of a chat request when the database connection breaks at the worst moments:
 * after a statement committed but before its answer arrived (the answer is lost), or before it
 * ran. Simulated with a Kysely plugin that fails chosen statements with a connection error, the
 * way `pg` reports a reset connection. The same paths run for real in tests/e2e/faults.test.ts.
 */

type Moment = 'before' | 'after';

/** Fails the next `times` statements whose SQL contains `marker` (a literal SQL fragment) with ECONNRESET. */
class ConnectionBreaker implements KyselyPlugin {
	private readonly marked = new WeakSet<object>();
	private armed: { marker: string; moment: Moment; times: number } | undefined;

	arm(marker: string, moment: Moment, times = 1): void {
		this.armed = { marker, moment, times };
	}

	transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
		const armed = this.armed;
		// Anywhere in the statement: SQL fragments nested in others (a function call composed into a
		// larger statement) count too. Queries embedded in a statement are transformed on their own
		// first, so "after" only marks here and counts the statement whose result comes back.
		if (armed && armed.times > 0 && JSON.stringify(args.node).includes(armed.marker)) {
			if (armed.moment === 'before') {
				armed.times -= 1;
				throw connectionReset();
			}
			this.marked.add(args.queryId);
		}
		return args.node;
	}

	async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
		const armed = this.armed;
		if (armed && armed.times > 0 && this.marked.has(args.queryId)) {
			armed.times -= 1;
			throw connectionReset();
		}
		return args.result;
	}
}

function connectionReset(): Error {
	return Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
}

describeEachDatabase('chat accounting through database faults', (database) => {
	let fake: FakeProviders;
	let services: Services;
	let user: TestUser;
	/** No key of their own: the app's key serves them. */
	let keyless: TestUser;
	const breaker = new ConnectionBreaker();
	let deps: ChatDeps;

	beforeAll(async () => {
		fake = await startFakeProviders();
		const appKey = testKey('openrouter', 'faultsapp');
		fake.registerKey('openrouter', appKey, 'ok');
		services = await testServices(database().handle, { ...fakeEnv(fake), OPENROUTER_API_KEY: appKey });
		user = await createUser(services.db, 'faulty');
		keyless = await createUser(services.db, 'keyless');
		const key = testKey('openai', 'df');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		const db = services.db.withPlugin(breaker);
		deps = { ...chatDeps(services), db, usageWriter: new UsageWriter(db, { retryDelayMs: 20 }) };
	});
	afterAll(async () => {
		await fake.close();
	});

	const chat = (requestId: string, userId = user.id) =>
		startChat(deps, {
			principal: { kind: 'session', userId },
			modelId: 'openai/gpt-4o-mini',
			messages: [{ role: 'user', content: 'count me once' }],
			stream: true,
			api: 'web',
			requestId,
			signal: new AbortController().signal
		});

	async function drain(session: ChatSession) {
		for await (const event of session.events) void event;
	}

	async function settledState(requestId: string) {
		await expect.poll(() => deps.usageWriter.pendingCount, { timeout: 5_000 }).toBe(0);
		const reservations = await services.db
			.selectFrom('limit_reservations')
			.select(['request_id', 'outcome'])
			.where('request_id', 'like', `${requestId}:%`)
			.execute();
		const usage = await services.db
			.selectFrom('usage_records')
			.select(['success', 'error_code', 'cost_micros'])
			.where('request_id', '=', requestId)
			.execute();
		return { reservations, usage };
	}

	it.each([
		['after', 'own', [{ request_id: ':0', outcome: 'released' }]],
		['before', 'own', []],
		['after', 'app', [{ request_id: ':0', outcome: 'released' }]],
		['before', 'app', []]
	] as const)(
		'releases the reservation and records the request when the admission answer is lost (%s the commit, for the %s key)',
		async (moment, key, expectedReservations) => {
			const requestId = randomUUID();
			// The own key is admitted by the statement reading the keys (`limits_admit` in it); the
			// app key by a statement of its own (`select * from limits_admit(…)`, the only
			// `select * from` before the provider call), after that one went through.
			breaker.arm(key === 'own' ? 'limits_admit' : 'select * from ', moment);
			await expect(chat(requestId, key === 'own' ? user.id : keyless.id)).rejects.toMatchObject({
				code: 'ECONNRESET'
			});
			const { reservations, usage } = await settledState(requestId);
			// Whatever the lost admission committed, if anything, is released by its request id (the
			// ledger's one rule for both ways of admitting): none stays open and the request is recorded.
			expect(reservations).toEqual(
				expectedReservations.map((r) => ({ ...r, request_id: `${requestId}${r.request_id}` }))
			);
			expect(usage).toEqual([{ success: false, error_code: 'database_unavailable', cost_micros: 0 }]);
		}
	);

	it.each([
		[
			'after',
			[{ request_id: ':0', outcome: 'released' }],
			[{ success: false, error_code: 'database_unavailable', cost_micros: 0 }]
		],
		['before', [], []]
	] as const)(
		'the API, whose one statement checks the token and admits: its answer lost %s the commit, the request is released and recorded if it was admitted',
		async (moment, expectedReservations, expectedUsage) => {
			const { token } = await createAccessToken(services.db, user.id, { name: `faults ${moment}` });
			const requestId = randomUUID();
			breaker.arm('limits_admit', moment);
			const response = await handleChatCompletions(
				{ deps, requestId },
				new Request('http://latchkey.test/api/v1/chat/completions', {
					method: 'POST',
					headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
					body: JSON.stringify({
						model: 'openai/gpt-4o-mini',
						stream: true,
						messages: [{ role: 'user', content: 'count me once' }]
					})
				})
			);
			expect(response.status).toBe(503);
			const { reservations, usage } = await settledState(requestId);
			// After the commit the reservation exists (the owner is its user); before it nothing was
			// admitted, and nobody is known to record a request for.
			expect(reservations).toEqual(
				expectedReservations.map((r) => ({ ...r, request_id: `${requestId}${r.request_id}` }))
			);
			expect(usage).toEqual(expectedUsage);
		}
	);

	it('settles the reservation after the settle answer was lost, with the real cost', async () => {
		const requestId = randomUUID();
		const session = await chat(requestId);
		breaker.arm('limits_settle', 'after');
		await drain(session);
		const { reservations, usage } = await settledState(requestId);
		expect(reservations).toEqual([{ request_id: `${requestId}:0`, outcome: 'settled' }]);
		expect(usage).toHaveLength(1);
		expect(usage[0]).toMatchObject({ success: true });
		expect(usage[0]?.cost_micros).toBeGreaterThan(0);
	});

	it('retries the settle until the database answers again', async () => {
		const requestId = randomUUID();
		const session = await chat(requestId);
		breaker.arm('limits_settle', 'before', 3);
		await drain(session);
		const { reservations, usage } = await settledState(requestId);
		expect(reservations).toEqual([{ request_id: `${requestId}:0`, outcome: 'settled' }]);
		expect(usage).toHaveLength(1);
	});

	it('releases the reservation when the provider fails and the release answer is lost', async () => {
		const failing = await createUser(services.db, 'faulty-release');
		const key = testKey('openai', 'rl');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, failing).keys.upsert({ provider: 'openai', apiKey: key });
		fake.registerKey('openai', key, 'quota');
		const requestId = randomUUID();
		breaker.arm('limits_release', 'after', 2);
		const attempt = startChat(
			{ ...deps, config: { ...deps.config, appOpenRouterKey: undefined } },
			{
				principal: { kind: 'session', userId: failing.id },
				modelId: 'openai/gpt-4o-mini',
				messages: [{ role: 'user', content: 'no credit' }],
				stream: true,
				api: 'web',
				requestId,
				signal: new AbortController().signal
			}
		);
		await expect(attempt).rejects.toMatchObject({ reason: 'upstream_quota' });
		const { reservations, usage } = await settledState(requestId);
		expect(reservations).toEqual([{ request_id: `${requestId}:0`, outcome: 'released' }]);
		expect(usage).toEqual([{ success: false, error_code: 'upstream_quota', cost_micros: 0 }]);
	});
});
