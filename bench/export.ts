/**
 * The usage CSV export at scale: 1,000,000 usage rows on a real PostgreSQL, downloaded over HTTP
 * from the BUILT server (`GET /api/admin/usage.csv`) as an admin. Measures wall time, bytes and
 * rows received, and samples the server process's resident memory (VmRSS) every 100 ms. Before
 * that, the two read strategies of the export (server-side cursor, keyset pages) are timed
 * in-process on the same rows. Creates and drops its own database.
 * Targets (issue 7): under 15 s, server memory under 150 MB.
 *
 *   npx tsx bench/export.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test BENCH_ROWS=1000000 npx tsx bench/export.ts
 *   BENCH_SKIP_BUILD=1 npx tsx bench/export.ts      (use the existing build/)
 *
 * The build runs under /tmp/latchkey-build.lock (others share this checkout); the lock is held
 * until the server has loaded every module the export needs, then released for the measurement.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import pg from 'pg';
import { sql } from 'kysely';
import { connectDatabase, migrate, type DbHandle } from '../src/lib/server/db';
import { resolveUsageExport, usageCsvStream, type ExportStrategy } from '../src/lib/server/usage';
import { startApp, type AppServer } from '../tests/helpers/app-server';
import { TestClient } from '../tests/helpers/http-client';
import { benchNodeArgs } from './harness';

const baseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const rowCount = Number(process.env.BENCH_ROWS ?? '1000000');
const userCount = 1_000;
const skipBuild = process.env.BENCH_SKIP_BUILD === '1';
const LOCK = '/tmp/latchkey-build.lock';
const ADMIN = { email: 'bench-admin@example.com', password: 'bench admin password' };
// Rows are 7 s apart from 2026-01-01: a million rows end on 2026-03-23.
const QUERY = { from: '2026-01-01', to: '2026-03-31' };
const TENTH = { from: '2026-01-01', to: '2026-01-08' };
const TARGET_SECONDS = 15;
const TARGET_MB = 150;

async function withAdmin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
	const client = new pg.Client({ connectionString: baseUrl });
	await client.connect();
	try {
		return await run(client);
	} finally {
		await client.end();
	}
}

const mb = (bytes: number) => bytes / 2 ** 20;

function rssOf(pid: number): number | undefined {
	try {
		const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
		return match ? Number(match[1]) * 1024 : undefined;
	} catch {
		return undefined;
	}
}

/** Holds the shared build lock until `release()`: `flock` runs a `cat` that ends when stdin closes. */
async function takeBuildLock(): Promise<{ release(): void }> {
	const holder: ChildProcess = spawn('flock', [LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
		stdio: ['pipe', 'pipe', 'inherit']
	});
	await new Promise<void>((resolve, reject) => {
		holder.stdout?.once('data', () => resolve());
		holder.once('exit', (code) => reject(new Error(`flock exited with ${code}`)));
	});
	return { release: () => holder.stdin?.end() };
}

async function seed(handle: DbHandle): Promise<void> {
	await handle.db
		.insertInto('users')
		.values(
			Array.from({ length: userCount }, (_, i) => ({
				email: `bench-user-${String(i).padStart(5, '0')}@example.com`,
				password_hash: 'not used'
			}))
		)
		.execute();
	// Every column varies; 1 in 5 on the app key, 1 in 50 failed, some estimated, some fallbacks.
	await sql`
		insert into usage_records (request_id, user_id, provider, model, key_source, served_by, api, success,
			error_code, fallback_reason, prompt_tokens, completion_tokens, cost_micros, estimated, latency_ms, ttft_ms,
			created_at)
		select 'bench-' || g || '-' || md5(g::text),
			u.ids[1 + g % array_length(u.ids, 1)],
			(array['openai', 'anthropic', 'google', 'openrouter'])[1 + g % 4],
			(array['openai/gpt-4o-mini', 'anthropic/claude-sonnet-4', 'google/gemini-2.5-flash',
				'openrouter/meta-llama/llama-3.3-70b-instruct'])[1 + g % 4],
			case when g % 5 = 0 then 'app' else 'user' end,
			case when g % 5 = 0 then 'openrouter' else (array['openai', 'anthropic', 'google', 'openrouter'])[1 + g % 4] end,
			case when g % 3 = 0 then 'openai' else 'web' end,
			g % 50 <> 0,
			case when g % 50 = 0 then 'upstream_error' end,
			case when g % 5 = 0 and g % 4 <> 3 then 'no_key' end,
			100 + g % 900, 20 + g % 400, (g % 5000) * 7, g % 17 = 0, 100 + g % 2000, 30 + g % 500,
			timestamptz '2026-01-01T00:00:00Z' + g * interval '7 seconds'
		from generate_series(1, ${rowCount}::int) g,
			(select array_agg(id order by email) as ids from users) u
	`.execute(handle.db);
	await sql`analyze`.execute(handle.db);
}

/** Reads the stream to the end, keeping nothing: bytes and CRLF-terminated records. */
async function drain(
	body: ReadableStream<Uint8Array>
): Promise<{ bytes: number; records: number; firstByteMs: number }> {
	const started = performance.now();
	let firstByteMs = 0;
	let bytes = 0;
	let records = 0;
	// CR and LF of one record may arrive in two network chunks.
	let previous = 0;
	const reader = body.getReader();
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		if (bytes === 0) firstByteMs = performance.now() - started;
		bytes += value.byteLength;
		for (let i = 0; i < value.length; i++) {
			if (value[i] === 10 && previous === 13) records++;
			previous = value[i]!;
		}
	}
	return { bytes, records, firstByteMs };
}

async function inProcess(handle: DbHandle, strategy: ExportStrategy, batchSize: number) {
	const filters = await resolveUsageExport(handle.db, QUERY);
	let peakHeap = process.memoryUsage().heapUsed;
	const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 50);
	const started = performance.now();
	const result = await drain(usageCsvStream(handle, filters, { strategy, batchSize }));
	clearInterval(sampler);
	return { seconds: (performance.now() - started) / 1000, peakHeap, ...result };
}

const name = `lk_bench_export_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const url = new URL(baseUrl);
url.pathname = `/${name}`;
await withAdmin((c) => c.query(`create database "${name}"`));
let handle: DbHandle | undefined;
let app: AppServer | undefined;
let lock: { release(): void } | undefined;
try {
	handle = await connectDatabase({ databaseUrl: url.toString(), poolSize: 4, applicationName: 'latchkey-bench' });
	await migrate(handle);
	const seedStarted = performance.now();
	await seed(handle);
	const seedSeconds = (performance.now() - seedStarted) / 1000;
	const version = (await sql<{ v: string }>`select current_setting('server_version') as v`.execute(handle.db)).rows[0]
		?.v;
	const tableSize = (
		await sql<{ size: string }>`select pg_size_pretty(pg_total_relation_size('usage_records')) as size`.execute(
			handle.db
		)
	).rows[0]?.size;

	console.log('Latchkey usage CSV export benchmark');
	console.log(
		`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}; ` +
			`PostgreSQL ${version} at ${url.host}`
	);
	console.log(
		`load average at start: ${loadavg()
			.map((n) => n.toFixed(2))
			.join(' ')} (1, 5, 15 min)`
	);
	console.log(
		`data: ${rowCount.toLocaleString('en-US')} usage rows of ${userCount} users (usage_records ${tableSize}), ` +
			`seeded with generate_series in ${seedSeconds.toFixed(1)} s; export ?from=${QUERY.from}&to=${QUERY.to} (all rows)`
	);
	console.log('');

	console.log('in-process (the domain stream alone, no HTTP), per read strategy and rows per read:');
	for (const [strategy, batchSize] of [
		['cursor', 500],
		['cursor', 2000],
		['keyset', 500],
		['keyset', 2000]
	] as const) {
		const m = await inProcess(handle, strategy, batchSize);
		console.log(
			`  ${strategy.padEnd(6)} ${String(batchSize).padStart(5)}  ${m.seconds.toFixed(2).padStart(6)} s  ` +
				`${(m.records - 1).toLocaleString('en-US').padStart(9)} rows  ${mb(m.bytes).toFixed(1)} MiB  ` +
				`${((m.records - 1) / m.seconds).toFixed(0).padStart(6)} rows/s  peak V8 heap ${mb(m.peakHeap).toFixed(0)} MiB`
		);
	}
	console.log('');

	lock = await takeBuildLock();
	if (!skipBuild) {
		const build = spawnSync('npx', ['vite', 'build', '--logLevel', 'error'], { stdio: 'inherit' });
		if (build.status !== 0) throw new Error('vite build failed');
	}
	app = await startApp({
		databaseUrl: url.toString(),
		env: { LOG_LEVEL: 'warn' },
		admins: [ADMIN],
		nodeArgs: benchNodeArgs()
	});
	const pid = app.process.pid;
	if (pid === undefined) throw new Error('server has no pid');
	const client = new TestClient(app.url);
	await client.trpc.auth.signIn.mutate(ADMIN);
	// Warm-up: the route and everything it imports are loaded before the lock is released.
	await drain((await client.fetch(`/api/admin/usage.csv?from=2026-01-01&to=2026-01-01`)).body!);
	lock?.release();
	lock = undefined;
	const idle = rssOf(pid) ?? 0;

	/** One download over HTTP with the server's RSS sampled every 100 ms. */
	const download = async (query: { from: string; to: string }) => {
		const before = rssOf(pid) ?? 0;
		let peak = before;
		const sampler = setInterval(() => {
			const rss = rssOf(pid);
			if (rss !== undefined && rss > peak) peak = rss;
		}, 100);
		const started = performance.now();
		const response = await client.fetch(`/api/admin/usage.csv?from=${query.from}&to=${query.to}`);
		if (response.status !== 200 || !response.body) throw new Error(`export answered ${response.status}`);
		const received = await drain(response.body);
		const seconds = (performance.now() - started) / 1000;
		clearInterval(sampler);
		return { response, seconds, before, peak, rows: received.records - 1, ...received };
	};

	console.log(`over HTTP from the built server (${app.url}; PostgreSQL reads through a cursor, 500 rows a time):`);
	// A tenth of the rows first: if memory were proportional to rows, the full export's peak would be far higher.
	const runs: [string, Awaited<ReturnType<typeof download>>][] = [['8 days', await download(TENTH)]];
	// The full export three times: garbage collection timing varies with the machine's load.
	for (let i = 1; i <= 3; i++) runs.push([`all #${i}`, await download(QUERY)]);
	const full = runs[runs.length - 1]![1];
	const slowest = Math.max(...runs.slice(1).map(([, m]) => m.seconds));
	const highest = Math.max(...runs.map(([, m]) => m.peak));
	for (const [label, m] of runs) {
		console.log(
			`  ${label.padEnd(6)} ${m.rows.toLocaleString('en-US').padStart(9)} rows  ${mb(m.bytes).toFixed(1).padStart(6)} MiB  ` +
				`${m.seconds.toFixed(2).padStart(6)} s  ${(m.rows / m.seconds).toFixed(0).padStart(6)} rows/s  ` +
				`server RSS ${mb(m.before).toFixed(1)} MiB before, peak ${mb(m.peak).toFixed(1)} MiB (+${mb(m.peak - m.before).toFixed(1)})`
		);
	}
	console.log(
		`  headers: ${full.response.headers.get('content-type')}; ${full.response.headers.get('content-disposition')}`
	);
	console.log(
		`  server RSS when idle, before any export: ${mb(idle).toFixed(1)} MiB (most of it code and tables loaded at start)`
	);
	console.log(
		`  targets: time < ${TARGET_SECONDS} s ${slowest < TARGET_SECONDS ? 'met' : 'MISSED'} (slowest ${slowest.toFixed(2)} s); ` +
			`server RSS < ${TARGET_MB} MB ${highest < TARGET_MB * 1e6 ? 'met' : 'MISSED'} (highest ${mb(highest).toFixed(1)} MiB, ` +
			`${mb(highest - idle).toFixed(1)} MiB above idle); rows ${runs.slice(1).every(([, m]) => m.rows === rowCount) ? 'all there' : 'MISSING'}`
	);
	console.log(
		`load average at end: ${loadavg()
			.map((n) => n.toFixed(2))
			.join(' ')}`
	);
	console.log('repeat: npx tsx bench/export.ts   (BENCH_DATABASE_URL, BENCH_ROWS, BENCH_SKIP_BUILD=1 to change)');
} finally {
	lock?.release();
	await app?.stop();
	await handle?.close();
	await withAdmin((c) => c.query(`drop database if exists "${name}" with (force)`));
}
