// `npm run demo`: Latchkey on embedded PGlite, wired to the local fake providers, with a demo user
// who owns an OpenAI and an Anthropic key, so every flow can be tried offline. See docs/byok-guide.md.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createTRPCProxyClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '../src/lib/server/trpc';
import { startFakeProviders } from '../tests/fakes/server';
import { seedAdmins } from '../tests/helpers/admins';
import { quietBuild, startupOutput, warningsText } from './startup-output.js';

const PORT = Number(process.env.PORT ?? 3000);
const FAKES_PORT = Number(process.env.FAKES_PORT ?? 4010);
const DATA_DIR = process.env.DATA_DIR ?? './data-demo';
const ORIGIN = `http://localhost:${PORT}`;

// Fake keys in each provider's real shape; they only work against the fakes. Built from parts so
// nothing in the repository looks like a leaked real key.
const fakeKey = (prefix: string, tag: string, length: number) =>
	prefix + tag + '0'.repeat(length - prefix.length - tag.length);
const DEMO_KEYS = {
	app: fakeKey('sk-or-v1-', 'demoAppKey', 73),
	openai: fakeKey('sk-proj-', 'demoOpenAIkey', 64),
	anthropic: fakeKey('sk-ant-api03-', 'demoAnthropicKey', 64),
	brokenGoogle: fakeKey('AIza', 'DemoBrokenGoogleKey', 39)
};
const DEMO_USER = { email: 'demo@latchkey.local', password: 'demo password 123' };
const DEMO_ADMIN = { email: 'admin@latchkey.local', password: 'admin password 123' };

const fakes = await startFakeProviders({ port: FAKES_PORT });
fakes.registerKey('openrouter', DEMO_KEYS.app, 'ok');
fakes.registerKey('openai', DEMO_KEYS.openai, { behaviour: 'ok', chunkDelayMs: 40 });
fakes.registerKey('anthropic', DEMO_KEYS.anthropic, { behaviour: 'ok', chunkDelayMs: 40 });

if (!existsSync('build/index.js') || process.env.DEMO_BUILD !== '0') {
	const status = quietBuild('Building Latchkey');
	if (status !== 0) process.exit(status);
}

// The admin is made the way an operator makes one (`npm run admin -- grant`), before the app starts
// (PGlite is single-process): signing up never makes an admin.
await seedAdmins({ databaseUrl: process.env.DATABASE_URL, dataDir: DATA_DIR }, [DEMO_ADMIN], 'npm run demo');

const app = spawn(process.execPath, ['build/index.js'], {
	// Its start-up warnings go into the banner below, in words; later log lines pass through.
	stdio: ['ignore', 'pipe', 'pipe'],
	env: {
		...process.env,
		PORT: String(PORT),
		ORIGIN,
		DATA_DIR,
		LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
		OPENROUTER_API_KEY: DEMO_KEYS.app,
		OPENAI_BASE_URL: fakes.baseUrls.openai,
		ANTHROPIC_BASE_URL: fakes.baseUrls.anthropic,
		GOOGLE_BASE_URL: fakes.baseUrls.google,
		OPENROUTER_BASE_URL: fakes.baseUrls.openrouter
	}
});
const appOutput = startupOutput((text) => process.stdout.write(text));
app.stdout.on('data', (chunk: Buffer) => appOutput.push(chunk));
app.stderr.on('data', (chunk: Buffer) => appOutput.push(chunk));
const appExited = new Promise<number | null>((resolve) => app.once('exit', (code) => resolve(code)));
let stopping = false;
// Ctrl-C or SIGTERM stops the app, waits for it to exit (it finishes open streams first), then
// the fakes: nothing is left running after the demo process is gone.
const stop = async () => {
	if (stopping) return;
	stopping = true;
	app.kill('SIGTERM');
	const forced = setTimeout(() => app.kill('SIGKILL'), 15_000);
	await appExited;
	clearTimeout(forced);
	await fakes.close();
	process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
void appExited.then(async (code) => {
	if (stopping) return;
	for (const line of appOutput.release()) console.error(line);
	process.stderr.write(warningsText(appOutput.startup.warnings));
	console.error(`Latchkey exited (${code}).`);
	await fakes.close();
	process.exit(code ?? 1);
});

await waitForHealthy();
await seedAccount(DEMO_USER, [
	{ provider: 'openai', apiKey: DEMO_KEYS.openai, label: 'Demo OpenAI key' },
	{ provider: 'anthropic', apiKey: DEMO_KEYS.anthropic, label: 'Demo Anthropic key' }
]);

console.log(`
Latchkey demo is running at ${ORIGIN}

  Sign in as ${DEMO_USER.email} / ${DEMO_USER.password}  (own OpenAI + Anthropic keys)
  or as ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}  (admin console)

  Fake providers: ${fakes.url}  (OpenAI, Anthropic, Google, OpenRouter wire formats)
  Google and OpenRouter models answer through the app's (fake) OpenRouter key.

  Try a failure: make the demo OpenAI key fail and watch the fallback message:
    curl -XPOST ${fakes.url}/__control/keys -H 'content-type: application/json' \\
      -d '{"provider":"openai","key":"${DEMO_KEYS.openai}","behaviour":"401"}'
  Behaviours: ok 401 403 429 quota 500 503 slow reset reset_before malformed no_usage midstream_error.
  A key the fakes do not know is invalid, e.g. ${DEMO_KEYS.brokenGoogle} for Google.

Ctrl-C stops everything. Data lives in ${DATA_DIR}.
${appOutput.startup.warnings.length > 0 ? `\n${warningsText(appOutput.startup.warnings)}` : ''}`);
appOutput.release();

async function waitForHealthy(): Promise<void> {
	for (let i = 0; i < 600; i++) {
		try {
			if ((await fetch(`${ORIGIN}/healthz`)).ok) return;
		} catch {
			// not up yet
		}
		await new Promise((r) => setTimeout(r, 100));
	}
	throw new Error('Latchkey did not start within 60 s');
}

async function seedAccount(
	account: { email: string; password: string },
	keys: Array<{ provider: 'openai' | 'anthropic'; apiKey: string; label: string }>
) {
	let cookie = '';
	const client = createTRPCProxyClient<AppRouter>({
		transformer: superjson,
		links: [
			httpLink({
				url: `${ORIGIN}/api/trpc`,
				async fetch(url, init) {
					const headers = new Headers(init?.headers as HeadersInit);
					headers.set('origin', ORIGIN);
					if (cookie) headers.set('cookie', cookie);
					const response = await fetch(String(url), { ...(init as RequestInit), headers });
					const set = response.headers.getSetCookie().find((c) => c.startsWith('latchkey_session='));
					if (set) cookie = set.split(';')[0]!;
					return response;
				}
			})
		]
	});
	try {
		await client.auth.signUp.mutate(account);
	} catch {
		await client.auth.signIn.mutate(account);
	}
	const existing = new Set((await client.keys.list.query()).map((k) => k.provider));
	for (const key of keys) if (!existing.has(key.provider)) await client.keys.upsert.mutate(key);
}
