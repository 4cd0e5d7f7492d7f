import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseChatStream, type ChatStreamEvent } from '$lib/chat/events';
import { freePort } from '../helpers/app-server';
import { cleanEnv } from '../helpers/env';
import { TestClient } from '../helpers/http-client';

/**
 * The two commands the README promises work from a checkout: `npm start` (scripts/start.js) and
 * `npm run demo` (scripts/demo.ts). Both run against the existing build (npm test builds first).
 */

const ROOT = resolve(import.meta.dirname, '../..');

interface Script {
	process: ChildProcess;
	output(): string;
	/** Resolves with the first match of `pattern` in the output; rejects if the process exits first. */
	waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
	exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Script[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
	// A failed test must not leave servers behind: SIGTERM lets the demo stop its app; whatever
	// still runs after that (the script or one of its children) is killed.
	for (const script of running.splice(0)) {
		if (script.process.exitCode !== null || script.process.signalCode !== null) continue;
		const children = childrenOf(script.process.pid!);
		await terminate(script).catch(() => {
			script.process.kill('SIGKILL');
			return script.exited;
		});
		for (const child of children) if (isRunning(child)) process.kill(child, 'SIGKILL');
	}
	for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
	const dir = mkdtempSync(join(tmpdir(), prefix));
	tempDirs.push(dir);
	return dir;
}

function run(args: string[], env: Record<string, string>): Script {
	let output = '';
	const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
	const listeners = new Set<() => void>();
	const onData = (chunk: Buffer) => {
		output += String(chunk);
		for (const listener of listeners) listener();
	};
	child.stdout?.on('data', onData);
	child.stderr?.on('data', onData);
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
		child.once('exit', (code, signal) => resolveExit({ code, signal }))
	);
	const script: Script = {
		process: child,
		output: () => output,
		exited,
		waitFor(pattern, timeoutMs = 90_000) {
			return new Promise((resolveMatch, reject) => {
				const check = () => {
					const match = output.match(pattern);
					if (!match) return;
					done();
					resolveMatch(match);
				};
				const timer = setTimeout(() => {
					done();
					reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`));
				}, timeoutMs);
				const done = () => {
					clearTimeout(timer);
					listeners.delete(check);
				};
				listeners.add(check);
				void exited.then(({ code, signal }) => {
					if (!listeners.has(check)) return;
					done();
					reject(new Error(`exited (${code ?? signal}) before printing ${pattern}:\n${output}`));
				});
				check();
			});
		}
	};
	running.push(script);
	return script;
}

/** Sends SIGTERM and waits for the exit, at most `timeoutMs`. */
async function terminate(script: Script, timeoutMs = 20_000) {
	script.process.kill('SIGTERM');
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() => reject(new Error(`still running ${timeoutMs} ms after SIGTERM:\n${script.output()}`)),
			timeoutMs
		);
	});
	try {
		return await Promise.race([script.exited, timeout]);
	} finally {
		clearTimeout(timer);
	}
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
	return new Promise((resolveOpen) => {
		const socket = connect({ host: '127.0.0.1', port });
		socket.once('connect', () => {
			socket.destroy();
			resolveOpen(true);
		});
		socket.once('error', () => resolveOpen(false));
	});
}

/** The ids of `pid`'s child processes (Linux /proc; empty elsewhere). */
function childrenOf(pid: number): number[] {
	if (!existsSync('/proc')) return [];
	const children: number[] = [];
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			// /proc/<pid>/stat: "pid (comm) state ppid ...", and comm may contain spaces.
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
			if (ppid === pid) children.push(Number(entry));
		} catch {
			// the process ended while we looked
		}
	}
	return children;
}

/** Whether `pid` still runs: a zombie (exited, not yet reaped by its new parent) counts as ended. */
function isRunning(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
	} catch {
		return false;
	}
}

/** Waits up to `timeoutMs` for every process in `pids` to end; returns those still running. */
async function stillRunning(pids: number[], timeoutMs = 5000): Promise<number[]> {
	const deadline = Date.now() + timeoutMs;
	let running = pids.filter(isRunning);
	while (running.length > 0 && Date.now() < deadline) {
		await new Promise((resolveWait) => setTimeout(resolveWait, 100));
		running = running.filter(isRunning);
	}
	return running;
}

describe('npm start from a checkout (scripts/start.js)', () => {
	it('runs on embedded PGlite with a generated master key, serves sign-up, and stops on SIGTERM', async () => {
		const dataDir = join(tempDir('latchkey-start-'), 'data');
		const port = await freePort();
		const start = run(['scripts/start.js'], cleanEnv({ PORT: String(port), DATA_DIR: dataDir }));

		const [, url] = await start.waitFor(/Latchkey is ready at (http:\/\/\S+)/);
		expect(url).toBe(`http://localhost:${port}`);
		expect(start.output()).toContain(`embedded PGlite in ${dataDir}`);

		const page = await fetch(`http://127.0.0.1:${port}/signup`);
		expect(page.status).toBe(200);
		const html = await page.text();
		expect(html).toMatch(/<form[^>]*method="post"/i);
		expect(html).toMatch(/name="email"/);
		expect(html).toMatch(/name="password"/);

		// The master key was generated once, readable by its owner only, and the operator was told.
		const keyFile = join(dataDir, 'master.key');
		expect(statSync(keyFile).mode & 0o777).toBe(0o600);
		expect(readFileSync(keyFile, 'utf8')).toMatch(/^[\w-]+:[A-Za-z0-9+/]{43}=\n$/);
		expect(start.output()).toContain(`MASTER_KEYS is not set: generated a master key into ${keyFile} (mode 0600)`);

		// One banner in words: no build advice, no JSON log line before the address and the warning.
		await start.waitFor(/Ctrl-C stops it/);
		const banner = start.output().slice(0, start.output().indexOf('Ctrl-C stops it'));
		expect(banner).not.toMatch(/^\{/m);
		expect(banner).not.toMatch(/npm run preview|PLUGIN_TIMINGS|Listening on/);
		expect(banner).toMatch(/^ {2}Data: embedded PGlite in /m);
		expect(banner).toMatch(/^ {2}Warning: MASTER_KEYS is not set: generated a master key/m);

		// A person can use it: sign up at the printed address (same-origin form rules included).
		const client = new TestClient(url!);
		await client.trpc.auth.signUp.mutate({ email: 'first@example.com', password: 'first user password' });
		expect(await client.trpc.auth.me.query()).toMatchObject({ email: 'first@example.com' });

		expect(await terminate(start)).toEqual({ code: 0, signal: null });
		expect(await listening(port)).toBe(false);
	});
});

describe('npm run demo (scripts/demo.ts)', () => {
	it('seeds a demo user with keys, answers a streamed chat with the user’s key, and stops with its fakes', async () => {
		const dataDir = join(tempDir('latchkey-demo-'), 'data-demo');
		const [port, fakesPort] = [await freePort(), await freePort()];
		const demo = run(
			['--import', 'tsx', 'scripts/demo.ts'],
			cleanEnv({ PORT: String(port), FAKES_PORT: String(fakesPort), DATA_DIR: dataDir, DEMO_BUILD: '0' })
		);

		const [, url] = await demo.waitFor(/Latchkey demo is running at (http:\/\/\S+)/);
		expect(url).toBe(`http://localhost:${port}`);
		const [, email, password] = await demo.waitFor(/Sign in as (\S+) \/ (.+?) {2}\(own OpenAI \+ Anthropic keys\)/);
		const [, adminEmail, adminPassword] = await demo.waitFor(/or as (\S+) \/ (.+?) {2}\(admin console\)/);
		await demo.waitFor(/Data lives in /);
		expect(demo.output()).not.toMatch(/Building Latchkey/);
		expect(demo.output()).toContain(`Data lives in ${dataDir}`);
		// The app's start-up warning is in the banner in words, not a JSON line before it.
		await demo.waitFor(/Warning: MASTER_KEYS is not set/);
		expect(demo.output().slice(0, demo.output().indexOf('Warning: MASTER_KEYS'))).not.toMatch(/^\{/m);
		expect(existsSync(join(dataDir, 'master.key'))).toBe(true);
		// The demo runs the app as a child process (on Linux we can see it, and check that it ends).
		const children = childrenOf(demo.process.pid!);
		if (existsSync('/proc')) {
			const commands = children.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
			expect(commands.filter((command) => command.includes('build/index.js'))).toHaveLength(1);
		}

		const client = new TestClient(url!);
		expect(await client.trpc.auth.signIn.mutate({ email: email!, password: password! })).toMatchObject({
			email,
			role: 'user'
		});
		// The demo's admin was granted its rights before the app started, as an operator would.
		const operator = new TestClient(url!);
		await operator.trpc.auth.signIn.mutate({ email: adminEmail!, password: adminPassword! });
		expect(await operator.trpc.auth.me.query()).toMatchObject({ email: adminEmail, role: 'admin' });
		expect((await operator.fetch('/admin')).status).toBe(200);
		const keys = await client.trpc.keys.list.query();
		expect(keys.map((k) => [k.provider, k.status, k.isActive]).sort()).toEqual([
			['anthropic', 'valid', true],
			['openai', 'valid', true]
		]);

		const response = await client.fetch('/api/chat', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ model: 'openai/gpt-4o-mini', content: 'Hello demo' })
		});
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
		expect(response.headers.get('x-key-source')).toBe('user');
		const events: ChatStreamEvent[] = [];
		for await (const event of parseChatStream(response.body!)) events.push(event);
		expect(events.find((e) => e.type === 'meta')).toMatchObject({
			keySource: 'user',
			servedBy: 'openai',
			fallback: null
		});
		expect(events.filter((e) => e.type === 'delta').length).toBeGreaterThan(2);
		const text = events.flatMap((e) => (e.type === 'delta' ? [e.text] : [])).join('');
		expect(text).toContain('Hello from fake-openai');
		expect(text).toContain('You said: Hello demo');
		expect(events.at(-1)?.type).toBe('done');

		expect(await listening(fakesPort)).toBe(true);
		expect(await terminate(demo)).toEqual({ code: 0, signal: null });
		// Nothing outlives the demo: not the app (nor any other child), not the fake providers.
		expect(await listening(port)).toBe(false);
		expect(await listening(fakesPort)).toBe(false);
		// (A helper such as tsx's esbuild service ends once its parent is gone, a moment later.)
		expect(await stillRunning(children)).toEqual([]);
	});
});
