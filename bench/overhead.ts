/**
 * What the app adds to a streamed chat: time to first token and total time of streaming requests
 * through the BUILT server on a real PostgreSQL, against the same requests sent straight to the
 * fake provider, at 1, 50 and 200 concurrent streams. The fake (its own process) answers every
 * request identically: the first chunk at once, then a chunk every BENCH_CHUNK_DELAY_MS (10 ms),
 * so the difference between the two columns is Latchkey's overhead (authentication, admission,
 * unsealing the key, the SDK, re-encoding the stream, settlement and the usage record).
 *
 * Paths: `v1` = `POST /api/v1/chat/completions` (personal access token, OpenAI stream), `web` =
 * `POST /api/chat` (session cookie; also stores the conversation and both messages). The user's
 * own OpenAI key serves every request. Target (issue 4): at 50 streams, added p50 <= 3 ms and
 * p99 <= 15 ms.
 *
 *   npx tsx bench/overhead.ts
 *   BENCH_SECONDS=10 BENCH_LEVELS=1,50,200 BENCH_PATHS=v1,web BENCH_USERS=50 BENCH_POOL_SIZE=10 npx tsx bench/overhead.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test BENCH_SKIP_BUILD=1 npx tsx bench/overhead.ts
 *
 * Creates and drops its own database. The build lock (/tmp/latchkey-build.lock) is held from the
 * build until every route used is loaded, then released for the measurement.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, type AppServer } from '../tests/helpers/app-server';
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
	startNodeProcess,
	startServerProcess,
	takeBuildLock,
	type BenchUser,
	type FakeProcess
} from './harness';

const seconds = Number(process.env.BENCH_SECONDS ?? '10');
const levels = (process.env.BENCH_LEVELS ?? '1,50,200').split(',').map(Number);
const paths = (process.env.BENCH_PATHS ?? 'v1,web,floor1,kit1').split(',') as AppPath[];
const userCount = Number(process.env.BENCH_USERS ?? '50');
const poolSize = process.env.BENCH_POOL_SIZE ?? '10';
const chunkDelayMs = Number(process.env.BENCH_CHUNK_DELAY_MS ?? '10');
/** Each row's time is split into this many slices, interleaved with the other targets'. */
const rounds = Number(process.env.BENCH_ROUNDS ?? '4');
const REPLY = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
/** One stream lasts about this long (the fake sends ~10 chunks, one every chunkDelayMs). */
const streamMs = 10 * chunkDelayMs;
const PROMPT = 'Say thirty words, please.';

/**
 * `floorN` = bench/floor-proxy.ts with N trivial PostgreSQL round trips before forwarding: the
 * cost of any app in between on this machine, which Latchkey cannot go below. `floorNsdk`: the
 * same, streaming through the official `openai` SDK and re-encoding each chunk. `kitN`: that,
 * as a SvelteKit endpoint on adapter-node (bench/kit-floor): the floor of the stack the app is
 * built on.
 */
type AppPath =
	'v1' | 'web' | `${'v1' | 'web'}@base` | `floor${number}` | `floor${number}${'http' | 'sdk'}` | `kit${number}`;
type Target = 'direct' | AppPath;

interface Timing {
	ttftMs: number;
	totalMs: number;
}

/** Sends one request and times its first content token and its end. */
async function timed(url: string, init: RequestInit, firstToken: RegExp): Promise<Timing | undefined> {
	const started = performance.now();
	const response = await fetch(url, init);
	if (response.status !== 200 || !response.body) {
		await response.text().catch(() => '');
		return undefined;
	}
	const reader = response.body.getReader();
	const decoder = new TextDecoder();
	let seen = '';
	let ttftMs: number | undefined;
	for (;;) {
		const { value, done } = await reader.read();
		if (done) break;
		if (ttftMs === undefined) {
			seen += decoder.decode(value, { stream: true });
			if (firstToken.test(seen)) ttftMs = performance.now() - started;
			else if (seen.length > 8192) seen = seen.slice(-1024);
		}
	}
	return ttftMs === undefined ? undefined : { ttftMs, totalMs: performance.now() - started };
}

const openAiBody = (model: string) =>
	JSON.stringify({
		model,
		stream: true,
		stream_options: { include_usage: true },
		messages: [{ role: 'user', content: PROMPT }]
	});

/** The floor proxies, by path (`floor0`, `floor1`, ...). */
const floors = new Map<string, FloorProxy>();

/** Starts bench/floor-proxy.ts making `queries` round trips to `databaseUrl` per request. */
async function startFloorProxy(
	queries: number,
	client: string,
	databaseUrl: string,
	upstream: string
): Promise<FloorProxy> {
	const server = await startServerProcess<{ url: string }>('floor proxy', 'bench/floor-proxy.ts', [], {
		...process.env,
		FLOOR_QUERIES: String(queries),
		FLOOR_CLIENT: client,
		FLOOR_UPSTREAM: upstream,
		DATABASE_URL: databaseUrl
	});
	return { url: server.info.url, pid: server.pid, stop: () => server.stop() };
}

const KIT_FLOOR = 'bench/kit-floor';
const KIT_FLOOR_ENTRY = 'bench/out/kit-floor/build/index.js';

/** Builds bench/kit-floor (unless BENCH_SKIP_BUILD=1 and a build is there) and starts it on adapter-node. */
async function startKitFloor(queries: number, databaseUrl: string, upstream: string): Promise<FloorProxy> {
	if (process.env.BENCH_SKIP_BUILD !== '1' || !existsSync(KIT_FLOOR_ENTRY)) {
		const built = spawnSync('npx', ['vite', 'build', '--emptyOutDir', '--logLevel', 'error'], {
			cwd: KIT_FLOOR,
			stdio: 'inherit'
		});
		if (built.status !== 0) throw new Error('building bench/kit-floor failed');
	}
	const port = await freePort();
	// BENCH_NODE_ARGS applies here as to the app, so both can be profiled alike.
	const server = await startNodeProcess(
		'the kit floor',
		[...benchNodeArgs(), KIT_FLOOR_ENTRY],
		{
			...process.env,
			NODE_ENV: 'production',
			HOST: '127.0.0.1',
			PORT: String(port),
			FLOOR_QUERIES: String(queries),
			FLOOR_UPSTREAM: upstream,
			DATABASE_URL: databaseUrl
		},
		(line) => (line.startsWith('Listening on') ? true : undefined)
	);
	return { url: `http://127.0.0.1:${port}`, pid: server.pid, stop: () => server.stop() };
}

interface FloorProxy {
	url: string;
	pid: number;
	stop(): Promise<void>;
}

/** A request of `target` for `user`. */
function requestOf(
	target: Target,
	app: AppServer,
	fake: FakeProcess,
	user: BenchUser
): () => Promise<Timing | undefined> {
	if (target.startsWith('floor') || target.startsWith('kit')) {
		const proxy = floors.get(target)!;
		return () =>
			timed(
				`${proxy.url}/v1/chat/completions`,
				{
					method: 'POST',
					headers: { authorization: `Bearer ${user.keys.openai}`, 'content-type': 'application/json' },
					body: openAiBody('gpt-4o-mini')
				},
				/"content":"[^"]/
			);
	}
	switch (target.replace(/@base$/, '')) {
		case 'direct':
			return () =>
				timed(
					`${fake.baseUrls.openai}/chat/completions`,
					{
						method: 'POST',
						headers: { authorization: `Bearer ${user.keys.openai}`, 'content-type': 'application/json' },
						body: openAiBody('gpt-4o-mini')
					},
					/"content":"[^"]/
				);
		case 'v1':
			return () =>
				timed(
					`${app.url}/api/v1/chat/completions`,
					{
						method: 'POST',
						headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
						body: openAiBody('openai/gpt-4o-mini')
					},
					/"content":"[^"]/
				);
		case 'web':
			return () =>
				timed(
					`${app.url}/api/chat`,
					{
						method: 'POST',
						headers: {
							cookie: user.client.cookieHeader(),
							origin: app.url,
							'content-type': 'application/json'
						},
						body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: PROMPT })
					},
					/event: delta/
				);
	}
	throw new Error(`unknown bench path ${target}`);
}

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
 * its own users, so a build from before a schema change still runs.
 */
const baselineEntry = process.env.BENCH_BASELINE;
let baseline: AppServer | undefined;
let baselineDatabase: Awaited<ReturnType<typeof createBenchDatabase>> | undefined;
const baselineUsers: BenchUser[] = [];

/** The app a target's requests go to (the baseline build for `…@base`). */
const appOf = (target: Target, app: AppServer): AppServer => (target.endsWith('@base') ? (baseline ?? app) : app);

/** The process a target's requests pass through (none for direct). */
const serverPidOf = (target: Target, app: AppServer): number | undefined =>
	target === 'direct' ? undefined : (floors.get(target)?.pid ?? appOf(target, app).process.pid);

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
		baseline = await startBenchApp(baselineDatabase.url, fake, { DATABASE_POOL_SIZE: poolSize }, [], baselineEntry);
	}
	for (const path of paths.filter((p) => p.startsWith('floor') || p.startsWith('kit'))) {
		const queries = Number(/\d+/.exec(path)?.[0] ?? '0');
		floors.set(
			path,
			path.startsWith('kit')
				? await startKitFloor(queries, database.url, fake.baseUrls.openai)
				: await startFloorProxy(queries, /(http|sdk)$/.exec(path)?.[1] ?? 'fetch', database.url, fake.baseUrls.openai)
		);
	}
	const users: BenchUser[] = [];
	for (let i = 0; i < userCount; i++) {
		users.push(
			await createBenchUser(app, fake, `overhead${i}`, {
				openai: { behaviour: 'ok', reply: REPLY, chunkDelayMs }
			})
		);
	}
	for (let i = 0; baseline && i < userCount; i++) {
		baselineUsers.push(
			await createBenchUser(baseline, fake, `overhead${i}`, { openai: { behaviour: 'ok', reply: REPLY, chunkDelayMs } })
		);
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
			`fake reply ${REPLY.split(' ').length} words in chunks ${chunkDelayMs} ms apart; ${seconds} s per row in ${rounds} interleaved slices; paths: ${paths.join(', ')}`
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
	const rss = rssOf(app.process.pid ?? 0);
	console.log('');
	console.log(
		`ms; "added" = app percentile minus direct percentile at the same concurrency; cpu/req = CPU time ` +
			`(user + system) of the process in between, per request; db/req = the same of all PostgreSQL processes. App RSS at the end: ${rss ? mb(rss).toFixed(0) : '?'} MB. ` +
			`Load average at the end: ${loadAverage()}.`
	);
	console.log(
		'repeat: npx tsx bench/overhead.ts   (BENCH_SECONDS, BENCH_ROUNDS, BENCH_LEVELS, BENCH_PATHS, BENCH_USERS, BENCH_POOL_SIZE, BENCH_CHUNK_DELAY_MS, BENCH_DATABASE_URL)'
	);
} finally {
	lock?.release();
	await app?.stop();
	await baseline?.stop();
	for (const proxy of floors.values()) await proxy.stop();
	await fake?.stop();
	await database.drop();
	await baselineDatabase?.drop();
}
