/**
 * What the app adds to a streamed chat, beside the peer gateway (issue 20): time to first token
 * and total time of streaming requests through the BUILT server on a real PostgreSQL and through
 * Portkey's gateway (bench/portkey.ts), against the same requests sent straight to the fake
 * provider, interleaved in slices. Then capacity: completed requests per second with instant
 * answers at BENCH_CAPACITY_CLIENTS clients, with CPU per request of the process in between and
 * of PostgreSQL.
 *
 * By default the fake streams like a provider: BENCH_TOKENS (50) words, one chunk per word
 * (BENCH_WORDS_PER_CHUNK=1), BENCH_CHUNK_DELAY_MS (20) apart: a 1 s answer at 50 tokens/s.
 * Paths: `v1` = `POST /api/v1/chat/completions` (personal access token), `web` = `POST /api/chat`
 * (session cookie; also stores the conversation), `portkey` = the peer; the user's own OpenAI key
 * serves every request. Goal (issue 20): at 50 streams Latchkey adds no more than Portkey at p50
 * and p99, and carries at least as many requests per second.
 *
 *   npx tsx bench/overhead.ts
 *   BENCH_LEVELS=1,50,200 BENCH_PATHS=v1,web,portkey,floor1,kit1 npx tsx bench/overhead.ts
 *   BENCH_CAPACITY_CLIENTS=0 npx tsx bench/overhead.ts   (no capacity phase)
 *
 * Creates and drops its own database. The build lock (/tmp/latchkey-build.lock) is held from the
 * build until every route used is loaded, then released for the measurement.
 */
import type { AppServer } from '../tests/helpers/app-server';
import {
	benchNodeArgs,
	buildServer,
	createBenchDatabase,
	cpuMsOf,
	postgresCpuMs,
	createBenchUser,
	describeMachine,
	loadAverage,
	mb,
	percentile,
	rssOf,
	startBenchApp,
	startFakeProcess,
	takeBuildLock,
	type BenchUser,
	type FakeProcess
} from './harness';
import { floors, peer, requestOf, startFloorProxy, startKitFloor, type AppPath, type Target } from './overhead-targets';
import { PORTKEY_VERSION, startPortkey } from './portkey';

const seconds = Number(process.env.BENCH_SECONDS ?? '10');
/** Empty (`BENCH_LEVELS=`) runs only the capacity phase. */
const levels = (process.env.BENCH_LEVELS ?? '50').split(',').filter(Boolean).map(Number);
const paths = (process.env.BENCH_PATHS ?? 'v1,web,portkey').split(',') as AppPath[];
const userCount = Number(process.env.BENCH_USERS ?? '50');
const poolSize = process.env.BENCH_POOL_SIZE ?? '10';
const chunkDelayMs = Number(process.env.BENCH_CHUNK_DELAY_MS ?? '20');
const tokens = Number(process.env.BENCH_TOKENS ?? '50');
const wordsPerChunk = Number(process.env.BENCH_WORDS_PER_CHUNK ?? '1');
const capacityClients = Number(process.env.BENCH_CAPACITY_CLIENTS ?? '50');
/** Each row's time is split into this many slices, interleaved with the other targets'. */
const rounds = Number(process.env.BENCH_ROUNDS ?? '4');
const REPLY = Array.from({ length: tokens }, (_, i) => `word${i}`).join(' ');
/** One stream lasts about this long (one chunk every chunkDelayMs). */
const streamMs = Math.ceil(tokens / wordsPerChunk) * chunkDelayMs;
const streaming = { behaviour: 'ok' as const, reply: REPLY, chunkDelayMs, wordsPerChunk };

interface Measured {
	level: number;
	target: Target;
	requests: number;
	errors: number;
	ttft: number[];
	total: number[];
	/** CPU time (user + system) of the process between client and fake during the slices. */
	cpuMs: number;
	/** CPU time of all PostgreSQL processes during the slices. */
	dbCpuMs: number;
}

/**
 * BENCH_BASELINE: another build's index.js (e.g. `git worktree add /tmp/base <commit>`, `npm ci`
 * and `npx vite build` there), served beside this checkout's for an A/B interleaved like every
 * other row: paths `v1@base` and `web@base`. It gets its own database (its own migrations) and
 * its own users, so a build from before a schema change still runs. BENCH_BASELINE_NODE_ARGS: Node
 * flags for the baseline only (the same build with another flag is an A/B of that flag).
 */
const baselineEntry = process.env.BENCH_BASELINE;
let baseline: AppServer | undefined;
let baselineDatabase: Awaited<ReturnType<typeof createBenchDatabase>> | undefined;
const baselineUsers: BenchUser[] = [];

/** The app a target's requests go to (the baseline build for `…@base`). */
const appOf = (target: Target, app: AppServer): AppServer => (target.endsWith('@base') ? (baseline ?? app) : app);

/** The process a target's requests pass through (none for direct). */
const serverPidOf = (target: Target, app: AppServer): number | undefined =>
	target === 'direct'
		? undefined
		: target === 'portkey'
			? peer.portkey?.pid
			: (floors.get(target)?.pid ?? appOf(target, app).process.pid);

async function measure(
	target: Target,
	level: number,
	users: BenchUser[],
	app: AppServer,
	fake: FakeProcess,
	durationMs: number
): Promise<Measured> {
	const result: Measured = { level, target, requests: 0, errors: 0, ttft: [], total: [], cpuMs: 0, dbCpuMs: 0 };
	const pid = serverPidOf(target, app);
	const cpuBefore = pid ? cpuMsOf(pid) : 0;
	const dbCpuBefore = postgresCpuMs();
	const end = performance.now() + durationMs;
	await Promise.all(
		Array.from({ length: level }, async (_, worker) => {
			const who = target.endsWith('@base') ? baselineUsers : users;
			const send = requestOf(target, appOf(target, app), fake, who[worker % who.length]!);
			// Workers start spread over one stream's length: equal-length streams started together
			// would stay in lockstep and hit the app in bursts of `level` at once, which real clients
			// do not. The same offsets apply to the direct and the app runs.
			await new Promise((resolve) => setTimeout(resolve, (worker / level) * streamMs));
			while (performance.now() < end) {
				result.requests += 1;
				const timing = await send().catch(() => undefined);
				if (!timing) {
					result.errors += 1;
					continue;
				}
				result.ttft.push(timing.ttftMs);
				result.total.push(timing.totalMs);
			}
		})
	);
	result.ttft.sort((a, b) => a - b);
	result.total.sort((a, b) => a - b);
	result.cpuMs = pid ? cpuMsOf(pid) - cpuBefore : NaN;
	result.dbCpuMs = postgresCpuMs() - dbCpuBefore;
	return result;
}

function mergeMeasured(a: Measured, b: Measured): Measured {
	const sorted = (x: number[], y: number[]) => [...x, ...y].sort((p, q) => p - q);
	return {
		level: a.level,
		target: a.target,
		requests: a.requests + b.requests,
		errors: a.errors + b.errors,
		ttft: sorted(a.ttft, b.ttft),
		total: sorted(a.total, b.total),
		cpuMs: a.cpuMs + b.cpuMs,
		dbCpuMs: a.dbCpuMs + b.dbCpuMs
	};
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '-' : ms.toFixed(1)).padStart(7);
const signed = (ms: number) => (Number.isNaN(ms) ? '-' : `${ms >= 0 ? '+' : ''}${ms.toFixed(1)}`).padStart(7);

const database = await createBenchDatabase('overhead');
let fake: FakeProcess | undefined;
let app: AppServer | undefined;
let lock: { release(): void } | undefined;
try {
	lock = await takeBuildLock();
	buildServer();
	fake = await startFakeProcess();
	app = await startBenchApp(database.url, fake, { DATABASE_POOL_SIZE: poolSize });
	if (paths.some((p) => p.endsWith('@base'))) {
		if (!baselineEntry) throw new Error('paths …@base need BENCH_BASELINE=/path/to/other/build/index.js');
		baselineDatabase = await createBenchDatabase('overhead_base');
		const baselineNodeArgs = benchNodeArgs('BENCH_BASELINE_NODE_ARGS');
		baseline = await startBenchApp(
			baselineDatabase.url,
			fake,
			{ DATABASE_POOL_SIZE: poolSize },
			baselineNodeArgs,
			baselineEntry
		);
	}
	if (paths.includes('portkey')) peer.portkey = await startPortkey(benchNodeArgs());
	for (const path of paths.filter((p) => p.startsWith('floor') || p.startsWith('kit'))) {
		const queries = Number(/\d+/.exec(path)?.[0] ?? '0');
		floors.set(
			path,
			path.startsWith('kit')
				? await startKitFloor(queries, database.url, fake.baseUrls.openai, path.endsWith('bytes') ? 'bytes' : 'sdk')
				: await startFloorProxy(queries, /(http|sdk)$/.exec(path)?.[1] ?? 'fetch', database.url, fake.baseUrls.openai)
		);
	}
	const users: BenchUser[] = [];
	for (let i = 0; i < userCount; i++) {
		users.push(
			await createBenchUser(app, fake, `overhead${i}`, {
				openai: streaming
			})
		);
	}
	for (let i = 0; baseline && i < userCount; i++) {
		baselineUsers.push(await createBenchUser(baseline, fake, `overhead${i}`, { openai: streaming }));
	}
	// Warm-up: every route used is loaded (then a rebuild by someone else cannot touch the server),
	// connections open, code paths compiled.
	for (const target of ['direct', ...paths] as Target[]) await measure(target, 20, users, app, fake, 2_000);
	lock.release();
	lock = undefined;

	console.log('Latchkey overhead benchmark: streamed chat through the app vs straight to the fake provider');
	console.log(describeMachine(database));
	console.log(
		`app: built adapter-node server, pool ${poolSize}, LOG_LEVEL=info; ${userCount} users, each with an OpenAI key; ` +
			`fake reply ${tokens} words, ${wordsPerChunk} per chunk, ${chunkDelayMs} ms apart; ${seconds} s per row in ${rounds} interleaved slices; ` +
			`paths: ${paths.join(', ')}${paths.includes('portkey') ? ` (portkey = @portkey-ai/gateway ${PORTKEY_VERSION}, PR 1390 fix)` : ''}`
	);
	console.log('');
	console.log(
		'streams  target    requests errors |  TTFT p50     p99 | total p50     p99 | added TTFT p50     p99 | added total p50     p99 | cpu/req  db/req'
	);
	for (const level of levels) {
		// Interleaved: each target runs `rounds` slices in turn (the order rotating), so a drift of
		// the machine's speed during the run (other VMs on the host) falls on every target alike.
		const targets = ['direct', ...paths] as Target[];
		const merged = new Map<Target, Measured>();
		for (let round = 0; round < rounds; round++) {
			for (let i = 0; i < targets.length; i++) {
				const target = targets[(i + round) % targets.length]!;
				const slice = await measure(target, level, users, app, fake, (seconds * 1000) / rounds);
				const sum = merged.get(target);
				merged.set(target, sum ? mergeMeasured(sum, slice) : slice);
			}
		}
		const direct = merged.get('direct')!;
		for (const target of targets) {
			const m = merged.get(target)!;
			const added = (values: number[], base: number[], p: number) =>
				target === 'direct' ? NaN : percentile(values, p) - percentile(base, p);
			console.log(
				`${String(level).padStart(7)}  ${target.padEnd(9)} ${String(m.requests).padStart(7)} ${String(m.errors).padStart(6)} |` +
					`${fmt(percentile(m.ttft, 50))} ${fmt(percentile(m.ttft, 99))} |` +
					`${fmt(percentile(m.total, 50))} ${fmt(percentile(m.total, 99))} |` +
					`      ${signed(added(m.ttft, direct.ttft, 50))} ${signed(added(m.ttft, direct.ttft, 99))} |` +
					`       ${signed(added(m.total, direct.total, 50))} ${signed(added(m.total, direct.total, 99))} |` +
					`${fmt(m.cpuMs / m.requests)} ${fmt(m.dbCpuMs / m.requests)}`
			);
		}
	}
	if (capacityClients > 0) {
		// Capacity: instant answers, as many as each path carries, interleaved like the rows above.
		const instant = { ...streaming, chunkDelayMs: 0 };
		for (const user of [...users, ...baselineUsers]) await fake.registerKey('openai', user.keys.openai!, instant);
		const targets = ['direct', ...paths] as Target[];
		const merged = new Map<Target, Measured>();
		for (let round = 0; round < rounds; round++) {
			for (let i = 0; i < targets.length; i++) {
				const target = targets[(i + round) % targets.length]!;
				const slice = await measure(target, capacityClients, users, app, fake, (seconds * 1000) / rounds);
				const sum = merged.get(target);
				merged.set(target, sum ? mergeMeasured(sum, slice) : slice);
			}
		}
		console.log('');
		console.log(
			`capacity: ${capacityClients} clients, instant answers, ${seconds} s per target in ${rounds} interleaved slices`
		);
		console.log('target     completed  req/s errors | cpu/req  db/req');
		for (const target of targets) {
			const m = merged.get(target)!;
			const done = m.requests - m.errors;
			console.log(
				`${target.padEnd(9)} ${String(done).padStart(10)} ${(done / seconds).toFixed(0).padStart(6)} ${String(m.errors).padStart(6)} |` +
					`${fmt(m.cpuMs / done)} ${fmt(m.dbCpuMs / done)}`
			);
		}
	}
	const rss = rssOf(app.process.pid ?? 0);
	console.log('');
	console.log(
		`ms; "added" = app percentile minus direct percentile at the same concurrency; cpu/req = CPU time ` +
			`(user + system) of the process in between, per request; db/req = the same of all PostgreSQL processes. App RSS at the end: ${rss ? mb(rss).toFixed(0) : '?'} MB. ` +
			`Load average at the end: ${loadAverage()}.`
	);
	console.log(
		'repeat: npx tsx bench/overhead.ts   (BENCH_SECONDS, BENCH_ROUNDS, BENCH_LEVELS, BENCH_PATHS, BENCH_USERS, BENCH_POOL_SIZE, BENCH_CHUNK_DELAY_MS, BENCH_TOKENS, BENCH_WORDS_PER_CHUNK, BENCH_CAPACITY_CLIENTS, BENCH_DATABASE_URL)'
	);
} finally {
	lock?.release();
	await app?.stop();
	await baseline?.stop();
	for (const proxy of floors.values()) await proxy.stop();
	await peer.portkey?.stop();
	await fake?.stop();
	await database.drop();
	await baselineDatabase?.drop();
}
