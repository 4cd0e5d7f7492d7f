/**
 * The performance peer of issue 20: Portkey's open-source AI gateway (npm `@portkey-ai/gateway`),
 * installed into bench/out/portkey (never a project dependency) and started as its README says.
 *
 * On Node 20 its 1.15.2 build throws `TypeError: immutable` when it appends its x-portkey-*
 * headers to a streamed upstream response (fetch's headers are immutable there; Portkey-AI/gateway
 * issues 1389 and 1550). The fix proposed in PR 1390 skips those headers; the same is applied here
 * to the installed copy, nothing else is changed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../tests/helpers/app-server';
import { startNodeProcess, type ServerProcess } from './harness';

export const PORTKEY_VERSION = '1.15.2';
const DIR = resolve(import.meta.dirname, 'out/portkey');
const ENTRY = join(DIR, 'node_modules/@portkey-ai/gateway/build/start-server.js');

const UNPATCHED = 'updateHeaders(e,t,a){return e.headers.append(E.LAST_USED_OPTION_INDEX';
const PATCHED = 'updateHeaders(e,t,a){try{return e.headers.append(E.LAST_USED_OPTION_INDEX';
const UNPATCHED_END = 'e.headers.delete("content-length"),e}}async function nu(';
const PATCHED_END =
	'e.headers.delete("content-length"),e}catch(x){if(!(x instanceof TypeError))throw x;return e}}}async function nu(';

/** Installs the pinned gateway (once) and applies the PR 1390 fix; returns the entry file. */
export function installPortkey(): string {
	const installed =
		existsSync(ENTRY) &&
		readFileSync(join(ENTRY, '../../package.json'), 'utf8').includes(`"version": "${PORTKEY_VERSION}"`);
	if (!installed) {
		mkdirSync(DIR, { recursive: true });
		writeFileSync(join(DIR, 'package.json'), '{ "name": "portkey-bench", "private": true }\n');
		const npm = spawnSync(
			'npm',
			['install', '--no-audit', '--no-fund', '--no-save', `@portkey-ai/gateway@${PORTKEY_VERSION}`],
			{ cwd: DIR, stdio: 'inherit' }
		);
		if (npm.status !== 0) throw new Error('installing @portkey-ai/gateway failed');
	}
	const source = readFileSync(ENTRY, 'utf8');
	if (source.includes(PATCHED) && source.includes(PATCHED_END)) return ENTRY;
	if (!source.includes(UNPATCHED) || !source.includes(UNPATCHED_END)) {
		throw new Error(`@portkey-ai/gateway ${PORTKEY_VERSION}: the code PR 1390 fixes was not found; check the patch`);
	}
	writeFileSync(ENTRY, source.replace(UNPATCHED, PATCHED).replace(UNPATCHED_END, PATCHED_END));
	return ENTRY;
}

export interface Portkey {
	url: string;
	pid: number;
	stop(): Promise<void>;
}

/** Starts the gateway headless on a free port; ready when it prints its address. */
export async function startPortkey(nodeArgs: string[] = []): Promise<Portkey> {
	const entry = installPortkey();
	const port = await freePort();
	const server: ServerProcess<string> = await startNodeProcess(
		'portkey',
		[...nodeArgs, entry, `--port=${port}`, '--headless'],
		{ ...process.env, NODE_ENV: 'production' },
		(line) => (line.includes(`localhost:${port}`) ? `http://127.0.0.1:${port}` : undefined)
	);
	return { url: server.info, pid: server.pid, stop: () => server.stop() };
}

/** The headers that make the gateway forward an OpenAI request to `openAiBaseUrl` (with /v1). */
export const portkeyHeaders = (openAiBaseUrl: string, apiKey: string): Record<string, string> => ({
	authorization: `Bearer ${apiKey}`,
	'content-type': 'application/json',
	'x-portkey-provider': 'openai',
	'x-portkey-custom-host': openAiBaseUrl
});
