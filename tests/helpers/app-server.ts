import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_MASTER_KEYS } from './env';

const ROOT = resolve(import.meta.dirname, '../..');
const BUILD_ENTRY = join(ROOT, 'build/index.js');

export interface AppServer {
	url: string;
	port: number;
	process: ChildProcess;
	/** Everything the server wrote to stdout and stderr, for leak scans and debugging. */
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
}

/** Starts the built adapter-node server (`npm run build` first) as a child process. */
export async function startApp(options: StartAppOptions = {}): Promise<AppServer> {
	if (!existsSync(BUILD_ENTRY))
		throw new Error('No build found: run `npm run build` before the e2e tests (npm test does).');
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
		...(options.databaseUrl
			? { DATABASE_URL: options.databaseUrl }
			: { DATA_DIR: mkdtempSync(join(tmpdir(), 'latchkey-e2e-')) }),
		...options.env
	};
	let output = '';
	const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BUILD_ENTRY], {
		cwd: ROOT,
		env,
		stdio: ['ignore', 'pipe', 'pipe']
	});
	child.stdout?.on('data', (chunk) => (output += String(chunk)));
	child.stderr?.on('data', (chunk) => (output += String(chunk)));
	const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));

	const server: AppServer = {
		url,
		port,
		process: child,
		output: () => output,
		async stop(signal = 'SIGTERM') {
			if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
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
