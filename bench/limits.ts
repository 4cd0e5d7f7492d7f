/**
 * Admissions per second and latency of the full admit + settle path of the limits domain on a
 * real PostgreSQL, at concurrency 1, 20 and 50, for many users and for ONE hot user (every request
 * on the same counter rows: the worst case). Creates and drops its own database.
 *
 *   npx tsx bench/limits.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test BENCH_SECONDS=5 BENCH_POOL_SIZE=10 npx tsx bench/limits.ts
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import pg from 'pg';
import { sql } from 'kysely';
import { connectDatabase, migrate, type DbHandle } from '../src/lib/server/db';
import { admitAndSettle } from './limits-operation';

const baseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const seconds = Number(process.env.BENCH_SECONDS ?? '5');
const poolSize = Number(process.env.BENCH_POOL_SIZE ?? '10');
const userCount = 1_000;
const concurrencies = [1, 20, 50];

async function withAdmin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
	const client = new pg.Client({ connectionString: baseUrl });
	await client.connect();
	try {
		return await run(client);
	} finally {
		await client.end();
	}
}

const percentile = (sorted: number[], p: number) =>
	sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface Measured {
	scenario: string;
	concurrency: number;
	operations: number;
	perSecond: number;
	p50: number;
	p99: number;
}

async function run(handle: DbHandle, userIds: string[], hot: boolean, concurrency: number): Promise<Measured> {
	const latencies: number[] = [];
	const pick = () => (hot ? userIds[0]! : userIds[Math.floor(Math.random() * userIds.length)]!);
	const once = async () => {
		const started = performance.now();
		await admitAndSettle(handle.db, pick());
		return performance.now() - started;
	};
	// Warm-up: connections open, plans cached.
	const warmUntil = performance.now() + 500;
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (performance.now() < warmUntil) await once();
		})
	);
	const begin = performance.now();
	const end = begin + seconds * 1000;
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (performance.now() < end) latencies.push(await once());
		})
	);
	const elapsed = (performance.now() - begin) / 1000;
	latencies.sort((a, b) => a - b);
	return {
		scenario: hot ? 'one hot user' : `${userIds.length} users`,
		concurrency,
		operations: latencies.length,
		perSecond: latencies.length / elapsed,
		p50: percentile(latencies, 50),
		p99: percentile(latencies, 99)
	};
}

const name = `lk_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const url = new URL(baseUrl);
url.pathname = `/${name}`;
await withAdmin((c) => c.query(`create database "${name}"`));
let handle: DbHandle | undefined;
try {
	handle = await connectDatabase({ databaseUrl: url.toString(), poolSize, applicationName: 'latchkey-bench' });
	await migrate(handle);
	const rows = await handle.db
		.insertInto('users')
		.values(
			Array.from({ length: userCount }, (_, i) => ({ email: `bench-${i}@example.com`, password_hash: 'not used' }))
		)
		.returning('id')
		.execute();
	const userIds = rows.map((r) => r.id);
	const version = (await sql<{ v: string }>`select current_setting('server_version') as v`.execute(handle.db)).rows[0]
		?.v;
	const syncCommit = (await sql<{ v: string }>`select current_setting('synchronous_commit') as v`.execute(handle.db))
		.rows[0]?.v;

	console.log('Latchkey limits benchmark: admit + settle (2 statements, 2 commits) per operation');
	console.log(
		`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}; ` +
			`PostgreSQL ${version} (synchronous_commit=${syncCommit}) at ${url.host}; pool ${poolSize}; ${seconds} s per row`
	);
	// The figures are only as quiet as the machine: say how busy it was.
	console.log(
		`load average at start: ${loadavg()
			.map((n) => n.toFixed(2))
			.join(' ')} (1, 5, 15 min)`
	);
	console.log('');
	console.log('scenario        concurrency   operations   admit+settle/s   p50 ms   p99 ms');
	const results: Measured[] = [];
	for (const hot of [false, true]) {
		for (const concurrency of concurrencies) {
			const m = await run(handle, userIds, hot, concurrency);
			results.push(m);
			console.log(
				`${m.scenario.padEnd(15)} ${String(m.concurrency).padStart(11)} ${String(m.operations).padStart(12)} ` +
					`${m.perSecond.toFixed(0).padStart(16)} ${m.p50.toFixed(2).padStart(8)} ${m.p99.toFixed(2).padStart(8)}`
			);
		}
	}
	console.log(
		`load average at end: ${loadavg()
			.map((n) => n.toFixed(2))
			.join(' ')}`
	);
	console.log('repeat: npx tsx bench/limits.ts   (BENCH_DATABASE_URL, BENCH_SECONDS, BENCH_POOL_SIZE to change)');
} finally {
	await handle?.close();
	await withAdmin((c) => c.query(`drop database if exists "${name}" with (force)`));
}
