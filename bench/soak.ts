/**
 * Soak: SOAK_SECONDS (default 600) of mixed chat load at SOAK_CONCURRENCY (default 50) concurrent
 * streams against the BUILT server on a real PostgreSQL, sampling the server's resident memory
 * (VmRSS from /proc/<pid>/status) every second. The mix: the web chat (`/api/chat`) and the
 * OpenAI-compatible API (`/api/v1/chat/completions`); all four providers on the users' own keys;
 * users without a key for the provider (served by the app key: fallback); and users whose keys
 * fail (401, 429, 500, reset, mid-stream error, slow). A request is "healthy" when the key meant
 * to serve it works (own `ok` key, or the app key); the healthy error rate must be 0.
 *
 * Memory: the server runs with the inspector on loopback; before the measure, every minute and at
 * the end the bench forces a full garbage collection and reads the heap still in use (the live
 * set, what a leak grows): its growth, end vs start, must stay under 10 %. RSS is sampled every
 * second too and printed (medians of the first and last minute, each minute's floor and peak),
 * but RSS swings by 100 MB with the collector's grow-then-collect cycle, so it is not the bound. Afterwards the database is checked: no reservation left open,
 * every admitted request has its usage record.
 *
 *   npx tsx bench/soak.ts
 *   SOAK_SECONDS=60 SOAK_CONCURRENCY=50 SOAK_CHUNK_DELAY_MS=50 npx tsx bench/soak.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test BENCH_SKIP_BUILD=1 npx tsx bench/soak.ts
 *
 * Creates and drops its own database. The build lock is held only until every route used is loaded.
 */
import type { Provider } from '../src/lib/server/config';
import type { Behaviour } from '../tests/fakes/server';
import type { AppServer } from '../tests/helpers/app-server';
import { readAccounting } from '../tests/e2e/support/chat-load';
import { testKey } from '../tests/integration/keys-fixtures';
import { connectInspector, type Inspector } from './inspector';
import {
	buildServer,
	createBenchDatabase,
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

const durationSeconds = Number(process.env.SOAK_SECONDS ?? '600');
const concurrency = Number(process.env.SOAK_CONCURRENCY ?? '50');
const chunkDelayMs = Number(process.env.SOAK_CHUNK_DELAY_MS ?? '50');
const REPLY = Array.from({ length: 60 }, (_, i) => `soakword${i}`).join(' ');
const PROVIDERS: Provider[] = ['openai', 'anthropic', 'google', 'openrouter'];
const MODELS: Record<Provider, string> = {
	openai: 'openai/gpt-4o-mini',
	anthropic: 'anthropic/claude-haiku-4.5',
	google: 'google/gemini-2.0-flash',
	openrouter: 'openrouter/meta-llama/llama-3.3-70b-instruct'
};
// The app's OpenRouter key for this run: random, like every key the fakes accept.
const APP_KEY = testKey('openrouter', 'soakapp');
const FAULTS: Behaviour[] = ['401', '429', '500', 'reset', 'midstream_error', 'slow'];

interface SoakUser extends BenchUser {
	/** Providers whose key works; others fail (`faulty`) or are missing (served by the app key). */
	kind: 'healthy' | 'fallback' | 'faulty';
}

interface Result {
	kind: SoakUser['kind'];
	api: 'web' | 'v1';
	ok: boolean;
	status: number;
	ttftMs?: number;
	totalMs: number;
}

/** One streamed request; ok = 200 and the stream finished without an error event. */
async function soakRequest(app: AppServer, user: SoakUser, provider: Provider, api: 'web' | 'v1'): Promise<Result> {
	const started = performance.now();
	const base = { kind: user.kind, api };
	let response: Response;
	try {
		response =
			api === 'web'
				? await fetch(`${app.url}/api/chat`, {
						method: 'POST',
						headers: { cookie: user.client.cookieHeader(), origin: app.url, 'content-type': 'application/json' },
						body: JSON.stringify({ model: MODELS[provider], content: 'soak' })
					})
				: await fetch(`${app.url}/api/v1/chat/completions`, {
						method: 'POST',
						headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
						body: JSON.stringify({
							model: MODELS[provider],
							stream: true,
							messages: [{ role: 'user', content: 'soak' }]
						})
					});
	} catch {
		return { ...base, ok: false, status: 0, totalMs: performance.now() - started };
	}
	if (response.status !== 200 || !response.body) {
		await response.text().catch(() => '');
		return { ...base, ok: false, status: response.status, totalMs: performance.now() - started };
	}
	const reader = response.body.getReader();
	const decoder = new TextDecoder();
	let text = '';
	let ttftMs: number | undefined;
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) break;
			text += decoder.decode(value, { stream: true });
			ttftMs ??= performance.now() - started;
			if (text.length > 65_536) text = text.slice(-4096);
		}
	} catch {
		return { ...base, ok: false, status: 200, ttftMs, totalMs: performance.now() - started };
	}
	const failed =
		api === 'web'
			? /event: error/.test(text) || !/event: done/.test(text)
			: /"error"/.test(text) || !/\[DONE\]/.test(text);
	return { ...base, ok: !failed, status: 200, ttftMs, totalMs: performance.now() - started };
}

const database = await createBenchDatabase('soak');
let fake: FakeProcess | undefined;
let app: AppServer | undefined;
let lock: { release(): void } | undefined;
let inspector: Inspector | undefined;
try {
	lock = await takeBuildLock();
	buildServer();
	fake = await startFakeProcess();
	await fake.registerKey('openrouter', APP_KEY, { behaviour: 'ok', reply: REPLY, chunkDelayMs });
	// The inspector (loopback only) lets the bench force a full collection before reading memory.
	app = await startBenchApp(database.url, fake, { OPENROUTER_API_KEY: APP_KEY, PROVIDER_TIMEOUT_MS: '5000' }, [
		'--inspect=127.0.0.1:0'
	]);
	const pid = app.process.pid ?? 0;
	inspector = await connectInspector(app);

	const users: SoakUser[] = [];
	const ok = { behaviour: 'ok' as const, reply: REPLY, chunkDelayMs };
	for (let i = 0; i < 24; i++) {
		const keys = Object.fromEntries(PROVIDERS.map((p) => [p, ok]));
		users.push({ ...(await createBenchUser(app, fake, `soak-healthy${i}`, keys)), kind: 'healthy' });
	}
	for (let i = 0; i < 8; i++) {
		users.push({ ...(await createBenchUser(app, fake, `soak-fallback${i}`, {})), kind: 'fallback' });
	}
	for (const [i, behaviour] of FAULTS.entries()) {
		const spec = { behaviour, reply: REPLY, chunkDelayMs, firstByteDelayMs: behaviour === 'slow' ? 1500 : undefined };
		const keys = Object.fromEntries(PROVIDERS.map((p) => [p, spec]));
		users.push({ ...(await createBenchUser(app, fake, `soak-faulty${i}`, keys)), kind: 'faulty' });
	}

	// Warm-up (every route loaded, then the build lock is released), also for the memory baseline.
	const results: Result[] = [];
	let measuring = false;
	let sequence = 0;
	let stopAt = Date.now() + Math.min(30, Math.max(5, durationSeconds * 0.1)) * 1000;
	const worker = async (index: number) => {
		while (Date.now() < stopAt) {
			const n = sequence++;
			const user = users[(index * 7 + n) % users.length]!;
			const provider = PROVIDERS[n % PROVIDERS.length]!;
			const result = await soakRequest(app!, user, provider, n % 3 === 0 ? 'v1' : 'web');
			if (measuring) results.push(result);
		}
	};
	await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
	lock.release();
	lock = undefined;

	console.log(`Latchkey soak: ${durationSeconds} s of mixed chat load at ${concurrency} concurrent streams`);
	console.log(describeMachine(database));
	console.log(
		`users: ${users.filter((u) => u.kind === 'healthy').length} healthy (own keys, 4 providers), ` +
			`${users.filter((u) => u.kind === 'fallback').length} without keys (app key), ${FAULTS.length} with failing keys (${FAULTS.join(', ')}); ` +
			`web and v1 (2:1); reply ${REPLY.split(' ').length} words, chunks ${chunkDelayMs} ms apart`
	);

	const samples: { t: number; rss: number }[] = [];
	// Live memory after a full collection: once before the measure, every minute, and at the end.
	const collected: { t: number; heapUsed: number; rss: number }[] = [];
	const collect = async () => {
		const t = Math.round((Date.now() - started) / 1000);
		collected.push({ t, ...(await inspector!.collectedMemory()) });
	};
	const started = Date.now();
	await collect();
	const sampler = setInterval(() => {
		const rss = rssOf(pid);
		if (rss !== undefined) samples.push({ t: (Date.now() - started) / 1000, rss });
	}, 1000);
	const progress = setInterval(() => {
		void collect();
		const last = samples.at(-1);
		console.log(
			`  t=${Math.round((Date.now() - started) / 1000)}s requests=${results.length} rss=${last ? mb(last.rss).toFixed(0) : '?'} MB load=${loadAverage()}`
		);
	}, 60_000);
	measuring = true;
	stopAt = Date.now() + durationSeconds * 1000;
	await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
	clearInterval(sampler);
	clearInterval(progress);
	await collect();
	const live = { start: collected[0]!, end: collected.at(-1)! };
	const liveGrowth = ((live.end.heapUsed - live.start.heapUsed) / live.start.heapUsed) * 100;

	const median = (values: number[]) =>
		percentile(
			[...values].sort((a, b) => a - b),
			50
		);
	const window = Math.min(60, Math.max(5, durationSeconds * 0.1));
	const baseline = median(samples.filter((s) => s.t <= window).map((s) => s.rss));
	const end = median(samples.filter((s) => s.t >= durationSeconds - window).map((s) => s.rss));
	const peak = Math.max(...samples.map((s) => s.rss));
	const growth = ((end - baseline) / baseline) * 100;
	// A leak raises what the collector cannot free: the floor (lowest RSS) of each minute. The
	// medians above also move with where the heap is in its grow-then-collect cycle.
	const minutes = Array.from({ length: Math.max(1, Math.floor(durationSeconds / 60)) }, (_, m) =>
		samples.filter((s) => s.t >= m * 60 && s.t < (m + 1) * 60).map((s) => s.rss)
	).filter((bucket) => bucket.length > 0);
	const floors = minutes.map((bucket) => Math.min(...bucket));
	const ceilings = minutes.map((bucket) => Math.max(...bucket));
	const floorGrowth = floors.length > 1 ? ((floors.at(-1)! - floors[0]!) / floors[0]!) * 100 : 0;

	const healthy = results.filter((r) => r.kind !== 'faulty');
	const healthyErrors = healthy.filter((r) => !r.ok);
	const faulty = results.filter((r) => r.kind === 'faulty');
	const ttft = healthy.flatMap((r) => (r.ttftMs === undefined ? [] : [r.ttftMs])).sort((a, b) => a - b);
	const totals = healthy.map((r) => r.totalMs).sort((a, b) => a - b);

	console.log('');
	console.log(
		`requests: ${results.length} in ${durationSeconds} s (${(results.length / durationSeconds).toFixed(1)}/s); ` +
			`healthy ${healthy.length} (own key ${healthy.filter((r) => r.kind === 'healthy').length}, app key ${healthy.filter((r) => r.kind === 'fallback').length}), ` +
			`failing keys ${faulty.length} (${faulty.filter((r) => r.ok).length} still answered through fallback)`
	);
	console.log(
		`healthy error rate: ${((healthyErrors.length / Math.max(1, healthy.length)) * 100).toFixed(3)} % (${healthyErrors.length} errors` +
			`${healthyErrors.length ? `: statuses ${[...new Set(healthyErrors.map((r) => r.status))].join(', ')}` : ''})`
	);
	console.log(
		`healthy latency ms: first byte p50 ${percentile(ttft, 50).toFixed(1)} p99 ${percentile(ttft, 99).toFixed(1)}; ` +
			`total p50 ${percentile(totals, 50).toFixed(1)} p99 ${percentile(totals, 99).toFixed(1)}`
	);
	console.log(
		`server RSS: start ${mb(samples[0]?.rss ?? NaN).toFixed(1)} MB, baseline (median of first ${window} s) ${mb(baseline).toFixed(1)} MB, ` +
			`end (median of last ${window} s) ${mb(end).toFixed(1)} MB, peak ${mb(peak).toFixed(1)} MB, growth ${growth.toFixed(1)} % ` +
			"(medians move with the collector's cycle; the bound is checked on the live heap below)"
	);

	console.log(
		`server RSS per minute, floor/peak MB: ${floors.map((f, i) => `${mb(f).toFixed(0)}/${mb(ceilings[i]!).toFixed(0)}`).join(', ')}; ` +
			`floor growth, last minute vs first: ${floorGrowth.toFixed(1)} %`
	);

	console.log(
		`after a full collection (heap used / RSS, MB): ${collected.map((c) => `t=${c.t}s ${mb(c.heapUsed).toFixed(1)}/${mb(c.rss).toFixed(0)}`).join(', ')}`
	);
	console.log(
		`live heap growth, end vs start: ${liveGrowth.toFixed(1)} % (${liveGrowth <= 10 ? 'within' : 'OVER'} the 10 % bound)`
	);

	// Let the last requests settle, then check the bookkeeping.
	await new Promise((resolve) => setTimeout(resolve, 2_000));
	const accounting = await readAccounting(database.url);
	console.log(
		`database: ${accounting.reservations} reservations, ${accounting.openReservations.length} left open; ` +
			`${accounting.usage.size} usage records; admitted requests without a record: ${accounting.admittedWithoutUsage.length}`
	);
	console.log(`load average at the end: ${loadAverage()}`);
	console.log(
		'repeat: npx tsx bench/soak.ts   (SOAK_SECONDS, SOAK_CONCURRENCY, SOAK_CHUNK_DELAY_MS, BENCH_DATABASE_URL)'
	);
	process.exitCode =
		healthyErrors.length === 0 &&
		liveGrowth <= 10 &&
		accounting.openReservations.length === 0 &&
		accounting.admittedWithoutUsage.length === 0
			? 0
			: 1;
} finally {
	inspector?.close();
	lock?.release();
	await app?.stop();
	await fake?.stop();
	await database.drop();
}
