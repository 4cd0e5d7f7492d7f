import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { connectDatabase, migrate, type DbHandle } from '$lib/server/db';
import { admit, setAdminLimits, setAdminModelCap, settle } from '$lib/server/limits';
import { loadConfig } from '$lib/server/config';
import { createEmptyPostgresDatabase } from '../helpers/db';
import { testDatabaseUrl, TEST_MASTER_KEYS } from '../helpers/env';

const ROOT = resolve(import.meta.dirname, '../..');
const WORKER = resolve(import.meta.dirname, 'support/limits-worker.ts');

interface WorkerResult {
	admitted: number;
	settledMicros: number;
	refused: Record<string, number>;
	reasons: Record<string, number>;
}

/** A separate Node process with its own connection pool: a second app instance on the same PostgreSQL. */
function startWorker(env: Record<string, string>) {
	const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', WORKER], {
		cwd: ROOT,
		env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
		stdio: ['pipe', 'pipe', 'pipe']
	});
	let stderr = '';
	child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
	const lines = createInterface({ input: child.stdout! });
	let onReady: () => void = () => {};
	let onResult: (result: WorkerResult) => void = () => {};
	const ready = new Promise<void>((r) => (onReady = r));
	const result = new Promise<WorkerResult>((resolveResult, reject) => {
		onResult = resolveResult;
		child.once('exit', (code) => reject(new Error(`worker exited with ${code}:\n${stderr}`)));
	});
	lines.on('line', (line) => {
		if (line === 'ready') onReady();
		else if (line.startsWith('{')) onResult(JSON.parse(line) as WorkerResult);
	});
	return { child, ready, result, go: () => child.stdin?.write('go\n') };
}

describe.skipIf(!testDatabaseUrl)('spending caps across two app processes sharing PostgreSQL', () => {
	let handle: DbHandle;
	let drop: () => Promise<void>;
	let url: string;

	beforeAll(async () => {
		const database = await createEmptyPostgresDatabase();
		drop = database.drop;
		url = database.url;
		handle = await connectDatabase({ databaseUrl: url, poolSize: 2 });
		await migrate(handle);
	});
	afterAll(async () => {
		await handle?.close();
		await drop?.();
	});

	/** A new user whose OpenAI limits an admin set (in the database, so every process reads them). */
	async function userWithAdminLimits(limits: {
		dailyCapUsd?: number;
		tokensPerHour?: number;
		weeklyCapUsd?: number;
		monthlyCapUsd?: number;
	}) {
		const config = loadConfig({ NODE_ENV: 'test', MASTER_KEYS: TEST_MASTER_KEYS });
		const [admin, user] = await handle.db
			.insertInto('users')
			.values([
				{ email: `admin-${randomUUID().slice(0, 8)}@example.com`, password_hash: 'x', role: 'admin' },
				{ email: `user-${randomUUID().slice(0, 8)}@example.com`, password_hash: 'x' }
			])
			.returning('id')
			.execute();
		await setAdminLimits(
			handle.db,
			config.limitDefaults,
			{ userId: user!.id, provider: 'openai', ...limits },
			{ actorUserId: admin!.id }
		);
		return { id: user!.id, adminId: admin!.id };
	}

	/** Runs two workers with `env` at once; what they admitted, settled and why they refused. */
	async function race(env: Record<string, string>) {
		const workers = [startWorker(env), startWorker(env)];
		await Promise.all(workers.map((w) => w.ready));
		for (const w of workers) w.go();
		const results = await Promise.all(workers.map((w) => w.result));
		const reasons: Record<string, number> = {};
		for (const r of results)
			for (const [reason, n] of Object.entries(r.reasons)) reasons[reason] = (reasons[reason] ?? 0) + n;
		return {
			admitted: results.reduce((n, r) => n + r.admitted, 0),
			settledMicros: results.reduce((n, r) => n + r.settledMicros, 0),
			reasons
		};
	}

	/** Spends `micros` for the user on `day` (admitted and settled in this process). */
	async function spend(userId: string, day: string, micros: number, model?: string) {
		const config = loadConfig({ NODE_ENV: 'test', MASTER_KEYS: TEST_MASTER_KEYS });
		const admission = await admit(handle.db, config.limitDefaults, {
			userId,
			provider: 'openai',
			keySource: 'user',
			reserveMicros: micros,
			reserveTokens: 10,
			requestId: randomUUID(),
			model,
			now: new Date(`${day}T08:00:00Z`)
		});
		await settle(handle.db, admission, { costMicros: micros, totalTokens: 10 });
	}

	const periodSpend = async (userId: string) =>
		handle.db
			.selectFrom('limit_daily_spend')
			.select([
				sql<number>`sum(settled_micros)::bigint`.as('settled'),
				sql<number>`sum(reserved_micros)::bigint`.as('reserved')
			])
			.where('user_id', '=', userId)
			.executeTakeFirstOrThrow();

	it('holds a weekly cap over earlier days exactly: 40 concurrent requests over two processes', async () => {
		const user = await userWithAdminLimits({ weeklyCapUsd: 1 });
		await spend(user.id, '2030-01-07', 400_000); // Monday of the week
		const result = await race({
			DATABASE_URL: url,
			USER_ID: user.id,
			PROVIDER: 'openai',
			REQUESTS: '20',
			RESERVE_MICROS: '100000',
			NOW: '2030-01-09T12:00:00Z'
		});
		expect(result.admitted).toBe(6);
		expect(result.reasons).toEqual({ weekly_cap: 34 });
		expect(await periodSpend(user.id)).toEqual({ settled: 1_000_000, reserved: 0 });
	});

	it('holds a monthly cap over earlier days exactly: 40 concurrent requests over two processes', async () => {
		const user = await userWithAdminLimits({ monthlyCapUsd: 2 });
		await spend(user.id, '2030-03-02', 1_000_000);
		await spend(user.id, '2030-03-12', 700_000);
		const result = await race({
			DATABASE_URL: url,
			USER_ID: user.id,
			PROVIDER: 'openai',
			REQUESTS: '20',
			RESERVE_MICROS: '50000',
			NOW: '2030-03-28T12:00:00Z'
		});
		expect(result.admitted).toBe(6);
		expect(result.reasons).toEqual({ monthly_cap: 34 });
		expect(await periodSpend(user.id)).toEqual({ settled: 2_000_000, reserved: 0 });
	});

	it('holds a per-model daily cap exactly: 40 concurrent requests over two processes', async () => {
		const user = await userWithAdminLimits({});
		const model = 'openai/gpt-4o';
		await setAdminModelCap(handle.db, { userId: user.id, model, dailyCapUsd: 0.5 }, { actorUserId: user.adminId });
		await spend(user.id, '2030-05-15', 100_000, model);
		const result = await race({
			DATABASE_URL: url,
			USER_ID: user.id,
			PROVIDER: 'openai',
			REQUESTS: '20',
			RESERVE_MICROS: '100000',
			MODEL: model,
			NOW: '2030-05-15T12:00:00Z'
		});
		expect(result.admitted).toBe(4);
		expect(result.reasons).toEqual({ model_daily_cap: 36 });
		const row = await handle.db
			.selectFrom('limit_model_spend')
			.select(['settled_micros', 'reserved_micros'])
			.where('user_id', '=', user.id)
			.executeTakeFirstOrThrow();
		expect(row).toEqual({ settled_micros: 500_000, reserved_micros: 0 });
	});

	it('admits exactly 10 of 100 concurrent requests split over two processes, and settles no more than the cap', async () => {
		// The cap lives in the database (an admin ceiling), so both processes read the same one: $1.00.
		const user = await userWithAdminLimits({ dailyCapUsd: 1 });

		const env = { DATABASE_URL: url, USER_ID: user.id, PROVIDER: 'openai', REQUESTS: '50', RESERVE_MICROS: '100000' };
		const workers = [startWorker(env), startWorker(env)];
		await Promise.all(workers.map((w) => w.ready));
		for (const w of workers) w.go();
		const results = await Promise.all(workers.map((w) => w.result));

		const admitted = results.reduce((n, r) => n + r.admitted, 0);
		const settled = results.reduce((n, r) => n + r.settledMicros, 0);
		expect(admitted).toBe(10);
		expect(settled).toBeLessThanOrEqual(1_000_000);
		for (const r of results) expect(Object.keys(r.refused).filter((code) => code !== 'spend_cap_reached')).toEqual([]);
		expect(results.reduce((n, r) => n + (r.refused.spend_cap_reached ?? 0), 0)).toBe(90);

		const spend = await handle.db
			.selectFrom('limit_daily_spend')
			.select(['settled_micros', 'reserved_micros'])
			.where('user_id', '=', user.id)
			.execute();
		expect(spend).toEqual([{ settled_micros: 1_000_000, reserved_micros: 0 }]);
		const reservations = await handle.db
			.selectFrom('limit_reservations')
			.select(['outcome'])
			.where('user_id', '=', user.id)
			.execute();
		expect(reservations.map((r) => r.outcome)).toEqual(Array(10).fill('settled'));
	});

	it('admits exactly 10 of 100 concurrent requests against a tokens-per-hour limit with room for 10 worst cases, over two processes', async () => {
		const user = await userWithAdminLimits({ tokensPerHour: 10_000 });

		const env = {
			DATABASE_URL: url,
			USER_ID: user.id,
			PROVIDER: 'openai',
			REQUESTS: '50',
			RESERVE_MICROS: '1',
			RESERVE_TOKENS: '1000'
		};
		const workers = [startWorker(env), startWorker(env)];
		await Promise.all(workers.map((w) => w.ready));
		for (const w of workers) w.go();
		const results = await Promise.all(workers.map((w) => w.result));

		expect(results.reduce((n, r) => n + r.admitted, 0)).toBe(10);
		for (const r of results) expect(Object.keys(r.refused).filter((code) => code !== 'rate_limited')).toEqual([]);
		expect(results.reduce((n, r) => n + (r.refused.rate_limited ?? 0), 0)).toBe(90);
		const hour = await handle.db
			.selectFrom('limit_hourly')
			.select(['requests', 'tokens', 'reserved_tokens'])
			.where('user_id', '=', user.id)
			.execute();
		// Refused requests are not counted; the admitted ones settled exactly their worst case.
		expect(hour).toEqual([{ requests: 10, tokens: 10_000, reserved_tokens: 0 }]);
	});
});
