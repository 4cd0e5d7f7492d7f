/**
 * What bench/overhead.ts and bench/soak.ts share: a fresh PostgreSQL database, the fake providers
 * in their own process, the BUILT server started on that database (under the shared build lock
 * until every route the bench uses is loaded), users with provider keys and tokens, and the
 * machine description every bench prints.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import pg from 'pg';
import type { Provider } from '../src/lib/server/config';
import type { BehaviourSpec } from '../tests/fakes/server';
import { startApp, type AppServer } from '../tests/helpers/app-server';
import { TestClient } from '../tests/helpers/http-client';
import { testKey } from '../tests/integration/keys-fixtures';

export const baseDatabaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const LOCK = '/tmp/latchkey-build.lock';

async function withAdmin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
	const client = new pg.Client({ connectionString: baseDatabaseUrl });
	await client.connect();
	try {
		return await run(client);
	} finally {
		await client.end();
	}
}

export interface BenchDatabase {
	url: string;
	serverVersion: string;
	drop(): Promise<void>;
}

/** A fresh database on the bench server; `drop()` removes it. */
export async function createBenchDatabase(prefix: string): Promise<BenchDatabase> {
	const name = `lk_${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
	const serverVersion = await withAdmin(async (client) => {
		await client.query(`create database "${name}"`);
		return (await client.query<{ v: string }>(`select current_setting('server_version') as v`)).rows[0]?.v ?? '?';
	});
	const url = new URL(baseDatabaseUrl);
	url.pathname = `/${name}`;
	return {
		url: url.toString(),
		serverVersion,
		drop: () => withAdmin((client) => client.query(`drop database if exists "${name}" with (force)`)).then(() => {})
	};
}

/** Holds the shared build lock until `release()`: `flock` runs a `cat` that ends when stdin closes. */
export async function takeBuildLock(): Promise<{ release(): void }> {
	const holder: ChildProcess = spawn('flock', [LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
		stdio: ['pipe', 'pipe', 'inherit']
	});
	await new Promise<void>((resolve, reject) => {
		holder.stdout?.once('data', () => resolve());
		holder.once('exit', (code) => reject(new Error(`flock exited with ${code}`)));
	});
	let released = false;
	return {
		release: () => {
			if (released) return;
			released = true;
			holder.stdin?.end();
		}
	};
}

/** Builds the server unless BENCH_SKIP_BUILD=1 (call with the build lock held). */
export function buildServer(): void {
	if (process.env.BENCH_SKIP_BUILD === '1') return;
	const result = spawnSync('npx', ['vite', 'build', '--logLevel', 'error'], { stdio: 'inherit' });
	if (result.status !== 0) throw new Error('vite build failed');
}

export interface FakeProcess {
	url: string;
	baseUrls: Record<Provider, string>;
	pid: number;
	registerKey(provider: Provider, key: string, spec: BehaviourSpec): Promise<void>;
	stop(): Promise<void>;
}

/** A server process of the bench's own, once it printed that it listens. */
export interface ServerProcess<Info> {
	/** What `ready` read from the line that said it listens. */
	info: Info;
	pid: number;
	/** SIGTERM, then waits for the exit. */
	stop(): Promise<void>;
}

/**
 * Starts node with `nodeArgs` and waits for the line of its output that `ready` recognises (it
 * answers undefined for any other line).
 */
export async function startNodeProcess<Info>(
	name: string,
	nodeArgs: string[],
	env: NodeJS.ProcessEnv,
	ready: (line: string) => Info | undefined
): Promise<ServerProcess<Info>> {
	const child = spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'inherit'], env });
	const info = await new Promise<Info>((resolve, reject) => {
		let listening = false;
		// The interface keeps reading the output afterwards, so the process never blocks on a full pipe.
		createInterface({ input: child.stdout! }).on('line', (line) => {
			const recognised = listening ? undefined : ready(line);
			if (recognised === undefined) return;
			listening = true;
			resolve(recognised);
		});
		child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
	});
	return {
		info,
		pid: child.pid ?? 0,
		async stop() {
			if (child.exitCode !== null) return;
			const exited = new Promise((resolve) => child.once('exit', resolve));
			child.kill('SIGTERM');
			await exited;
		}
	};
}

/** Starts `script` with tsx and waits for the JSON line it prints first, once it listens. */
export function startServerProcess<Info>(
	name: string,
	script: string,
	args: string[] = [],
	env: NodeJS.ProcessEnv = process.env
): Promise<ServerProcess<Info>> {
	return startNodeProcess(name, ['--import', 'tsx', script, ...args], env, (line) => JSON.parse(line) as Info);
}

/** The fake providers in a process of their own, so their timing does not share the bench's event loop. */
export async function startFakeProcess(): Promise<FakeProcess> {
	const server = await startServerProcess<{ url: string } & Record<Provider, string>>(
		'fake providers',
		'tests/fakes/cli.ts',
		['--port', '0']
	);
	const { info } = server;
	return {
		url: info.url,
		baseUrls: { openai: info.openai, anthropic: info.anthropic, google: info.google, openrouter: info.openrouter },
		pid: server.pid,
		async registerKey(provider, key, spec) {
			const response = await fetch(`${info.url}/__control/keys`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ provider, key, ...spec })
			});
			if (!response.ok) throw new Error(`registering a fake key failed: ${response.status}`);
		},
		stop: () => server.stop()
	};
}

/**
 * Arguments for node itself in every server the benches start, from BENCH_NODE_ARGS (or the
 * variable named), e.g. "--cpu-prof --cpu-prof-dir=/tmp/latchkey-prof" to profile (written when
 * the server exits; Node refuses --cpu-prof in NODE_OPTIONS).
 */
export const benchNodeArgs = (variable = 'BENCH_NODE_ARGS'): string[] =>
	process.env[variable]?.split(' ').filter(Boolean) ?? [];

/** The built server on `databaseUrl`, its providers pointed at the fakes, limits out of the way. */
export async function startBenchApp(
	databaseUrl: string,
	fake: FakeProcess,
	env: Record<string, string> = {},
	extraNodeArgs: string[] = [],
	entry?: string
): Promise<AppServer> {
	return startApp({
		...(entry ? { entry } : {}),
		databaseUrl,
		env: {
			OPENAI_BASE_URL: fake.baseUrls.openai,
			ANTHROPIC_BASE_URL: fake.baseUrls.anthropic,
			GOOGLE_BASE_URL: fake.baseUrls.google,
			OPENROUTER_BASE_URL: fake.baseUrls.openrouter,
			LOG_LEVEL: 'info',
			DEFAULT_REQUESTS_PER_HOUR: '1000000',
			DEFAULT_TOKENS_PER_HOUR: '1000000000',
			DEFAULT_DAILY_CAP_USD: '100000',
			DEFAULT_APP_DAILY_CAP_USD: '100000',
			...env
		},
		nodeArgs: [...benchNodeArgs(), ...extraNodeArgs]
	});
}

export interface BenchUser {
	client: TestClient;
	/** Personal access token for /api/v1. */
	token: string;
	keys: Partial<Record<Provider, string>>;
}

/** A signed-up user holding a key for each of `keys` (registered at the fake with its behaviour). */
export async function createBenchUser(
	app: AppServer,
	fake: FakeProcess,
	name: string,
	keys: Partial<Record<Provider, BehaviourSpec>>
): Promise<BenchUser> {
	const client = new TestClient(app.url);
	await client.trpc.auth.signUp.mutate({ email: `${name}@bench.example.com`, password: 'bench password 1234' });
	const stored: BenchUser['keys'] = {};
	for (const [provider, spec] of Object.entries(keys) as [Provider, BehaviourSpec][]) {
		const key = testKey(provider, name.replace(/\W/g, ''));
		await fake.registerKey(provider, key, { behaviour: 'ok' });
		await client.trpc.keys.upsert.mutate({ provider, apiKey: key });
		await fake.registerKey(provider, key, spec);
		stored[provider] = key;
	}
	const { token } = await client.trpc.tokens.create.mutate({ name: 'bench' });
	return { client, token, keys: stored };
}

/** Resident memory of a process (VmRSS), in bytes. */
export function rssOf(pid: number): number | undefined {
	try {
		const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
		return match ? Number(match[1]) * 1024 : undefined;
	} catch {
		return undefined;
	}
}

/** CPU time (user + system) a process has used so far, in ms (/proc's clock ticks are 10 ms). */
export function cpuMsOf(pid: number): number {
	try {
		return cpuMsOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
	} catch {
		return NaN;
	}
}

function cpuMsOfStat(stat: string, withReapedChildren = false): number {
	// The fields after the command name, which is in parentheses and may hold spaces: utime,
	// stime, cutime, cstime.
	const fields = stat
		.slice(stat.lastIndexOf(') ') + 2)
		.split(' ')
		.slice(11, withReapedChildren ? 15 : 13);
	return fields.reduce((sum, ticks) => sum + Number(ticks), 0) * 10;
}

/**
 * CPU time (user + system, ms) used so far by every PostgreSQL process on the machine: the live
 * ones' own, plus their reaped children's (a backend that exited is counted in the postmaster's).
 */
export function postgresCpuMs(): number {
	let total = 0;
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			if (stat.includes(' (postgres) ')) total += cpuMsOfStat(stat, true);
		} catch {
			// Gone meanwhile.
		}
	}
	return total;
}

export const percentile = (sorted: readonly number[], p: number): number =>
	sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export const mb = (bytes: number) => bytes / 2 ** 20;

export function describeMachine(database: BenchDatabase): string {
	const cpu = cpus();
	return (
		`machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}; ` +
		`PostgreSQL ${database.serverVersion} at ${new URL(database.url).host}; ` +
		`load average ${loadavg()
			.map((n) => n.toFixed(2))
			.join(' ')} (1, 5, 15 min)`
	);
}

export const loadAverage = () =>
	loadavg()
		.map((n) => n.toFixed(2))
		.join(' ');
