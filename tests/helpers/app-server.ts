import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { seedAdmins, type Account } from './admins';
import { TEST_MASTER_KEYS } from './env';
import { appendTestLog, recordSecret, testLogPath, writeTestLog } from './test-output';

const ROOT = resolve(import.meta.dirname, '../..');
const BUILD_ENTRY = join(ROOT, 'build/index.js');

export interface AppServer {
	url: string;
	port: number;
	process: ChildProcess;
	/**
	 * Everything the server wrote to stdout and stderr, for leak scans and debugging. Under
	 * Vitest it is also written to `test-results/logs/` for the whole-suite scan.
	 */
	output(): string;
	stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function freePort(): Promise<number> {
	return new Promise((resolvePort, reject) => {
		const server = createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			server.close(() =>
				typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))
			);
		});
	});
}

export interface StartAppOptions {
	/** PostgreSQL URL; without it the server runs on embedded PGlite in a fresh temp dir. */
	databaseUrl?: string;
	env?: Record<string, string>;
	/** Wait for /healthz (default true). */
	waitUntilReady?: boolean;
	port?: number;
	/** Extra arguments for node itself, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS). */
	nodeArgs?: string[];
	/** Another build's `index.js` (an older commit's, for an A/B in bench/); default this checkout's. */
	entry?: string;
	/** Accounts made admins before the server starts (as an operator would); they sign in, not up. */
	admins?: readonly Account[];
}

/** Starts the built adapter-node server (`npm run build` first) as a child process. */
export async function startApp(options: StartAppOptions = {}): Promise<AppServer> {
	const entry = options.entry ?? BUILD_ENTRY;
	if (!existsSync(entry)) throw new Error(`No build found at ${entry}: run \`npm run build\` first (npm test does).`);
	const port = options.port ?? (await freePort());
	const url = `http://127.0.0.1:${port}`;
	const env: Record<string, string> = {
		PATH: process.env.PATH ?? '',
		HOME: process.env.HOME ?? '/tmp',
		NODE_ENV: 'production',
		PORT: String(port),
		HOST: '127.0.0.1',
		ORIGIN: url,
		MASTER_KEYS: TEST_MASTER_KEYS,
		LOG_LEVEL: 'debug',
		BODY_SIZE_LIMIT: '1M',
		// Tests sign up many accounts from 127.0.0.1; the sign-up throttle has tests of its own.
		SIGNUP_MAX_PER_IP_PER_HOUR: '1000000',
		...(options.databaseUrl
			? { DATABASE_URL: options.databaseUrl }
			: { DATA_DIR: mkdtempSync(join(tmpdir(), 'latchkey-e2e-')) }),
		...options.env
	};
	if (options.admins?.length) {
		await seedAdmins({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR }, options.admins);
	}
	// The whole-suite scan looks for these in every log and metrics file.
	for (const name of ['OPENROUTER_API_KEY', 'METRICS_TOKEN']) recordSecret(env[name]);
	for (const entry of (env.MASTER_KEYS ?? '').split(',')) recordSecret(entry.split(':')[1]);
	const logPath = testLogPath('app');
	let output = '';
	const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry], {
		// A build from another checkout runs from there (its own migrations).
		cwd: options.entry ? resolve(dirname(options.entry), '..') : ROOT,
		env,
		stdio: ['ignore', 'pipe', 'pipe']
	});
	const collect = (chunk: Buffer) => {
		const text = String(chunk);
		output += text;
		appendTestLog(logPath, text);
	};
	child.stdout?.on('data', collect);
	child.stderr?.on('data', collect);
	const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));

	const server: AppServer = {
		url,
		port,
		process: child,
		output: () => output,
		async stop(signal = 'SIGTERM') {
			if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
			if (logPath) await scrapeMetrics(url, env.METRICS_TOKEN, logPath.replace(/\.log$/, '.metrics.txt'));
			child.kill(signal);
			const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
			const code = await exited;
			clearTimeout(timer);
			return code;
		}
	};
	if (options.waitUntilReady ?? true) {
		await waitForHealthy(url, exited, () => output);
	}
	return server;
}

/** Keeps the server's `/metrics` text for the whole-suite scan (best effort, bounded). */
async function scrapeMetrics(url: string, token: string | undefined, path: string): Promise<void> {
	try {
		const response = await fetch(`${url}/metrics`, {
			headers: token ? { authorization: `Bearer ${token}` } : {},
			signal: AbortSignal.timeout(3_000)
		});
		if (response.ok) writeTestLog(path, await response.text());
	} catch {
		// Not listening (yet or any more): nothing to keep.
	}
}

async function waitForHealthy(url: string, exited: Promise<number | null>, output: () => string): Promise<void> {
	let done = false;
	void exited.then(() => (done = true));
	const deadline = Date.now() + 60_000;
	while (Date.now() < deadline) {
		if (done) throw new Error(`server exited during start-up:\n${output()}`);
		try {
			const response = await fetch(`${url}/healthz`);
			if (response.ok) return;
		} catch {
			// not listening yet
		}
		await new Promise((r) => setTimeout(r, 100));
	}
	throw new Error(`server did not become healthy within 60 s:\n${output()}`);
}
