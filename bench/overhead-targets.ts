/**
 * What bench/overhead.ts sends through: the provider directly, Latchkey's two chat routes, the peer
 * gateway (Portkey) and the floor proxies, each as a function that times one streamed request.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, type AppServer } from '../tests/helpers/app-server';
import { benchNodeArgs, startNodeProcess, startServerProcess, type BenchUser, type FakeProcess } from './harness';
import { portkeyHeaders, type Portkey } from './portkey';

export const PROMPT = 'Say thirty words, please.';

/**
 * `floorN` = bench/floor-proxy.ts with N trivial PostgreSQL round trips before forwarding: the
 * cost of any app in between on this machine, which Latchkey cannot go below. `floorNsdk`: the
 * same, streaming through the official `openai` SDK and re-encoding each chunk. `kitN`: that,
 * as a SvelteKit endpoint on adapter-node (bench/kit-floor; `kitNbytes`: the SDK only opens the call
 * and the body passes as bytes): the floor of the stack the app is
 * built on.
 */
export type AppPath =
	| 'v1'
	| 'web'
	| 'portkey'
	| `${'v1' | 'web'}@base`
	| `floor${number}`
	| `floor${number}${'http' | 'sdk'}`
	| `kit${number}`
	| `kit${number}bytes`;
export type Target = 'direct' | AppPath;

export interface Timing {
	ttftMs: number;
	totalMs: number;
}

/** Sends one request and times its first content token and its end. */
export async function timed(url: string, init: RequestInit, firstToken: RegExp): Promise<Timing | undefined> {
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
export const floors = new Map<string, FloorProxy>();

/** Starts bench/floor-proxy.ts making `queries` round trips to `databaseUrl` per request. */
export async function startFloorProxy(
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
export async function startKitFloor(
	queries: number,
	databaseUrl: string,
	upstream: string,
	relay: 'sdk' | 'bytes' = 'sdk'
): Promise<FloorProxy> {
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
			FLOOR_RELAY: relay,
			FLOOR_UPSTREAM: upstream,
			DATABASE_URL: databaseUrl
		},
		(line) => (line.startsWith('Listening on') ? true : undefined)
	);
	return { url: `http://127.0.0.1:${port}`, pid: server.pid, stop: () => server.stop() };
}

export interface FloorProxy {
	url: string;
	pid: number;
	stop(): Promise<void>;
}

/** The peer gateway, once started (path `portkey`). */
export const peer: { portkey?: Portkey } = {};

/** A request of `target` for `user`. */
export function requestOf(
	target: Target,
	app: AppServer,
	fake: FakeProcess,
	user: BenchUser
): () => Promise<Timing | undefined> {
	if (target === 'portkey') {
		const portkey = peer.portkey!;
		return () =>
			timed(
				`${portkey.url}/v1/chat/completions`,
				{
					method: 'POST',
					headers: portkeyHeaders(fake.baseUrls.openai, user.keys.openai!),
					body: openAiBody('gpt-4o-mini')
				},
				/"content":"[^"]/
			);
	}
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
