// `npm start`: builds the app when the build is missing or older than the sources, then runs
// the adapter-node server. With NODE_ENV=production it never builds: deployments ship a build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const BUILD_ENTRY = 'build/index.js';
const SOURCES = ['src', 'static', 'migrations', 'svelte.config.js', 'vite.config.ts', 'package-lock.json'];

function newestMtime(path) {
	if (!existsSync(path)) return 0;
	const stat = statSync(path);
	if (!stat.isDirectory()) return stat.mtimeMs;
	return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

const production = process.env.NODE_ENV === 'production';
const stale = !existsSync(BUILD_ENTRY) || newestMtime(BUILD_ENTRY) < Math.max(...SOURCES.map(newestMtime));
if (stale && !production) {
	console.log('Building Latchkey (first start or sources changed)…');
	const result = spawnSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit', shell: false });
	if (result.status !== 0) process.exit(result.status ?? 1);
} else if (!existsSync(BUILD_ENTRY)) {
	console.error('No build found. Run `npm run build` before `npm start` with NODE_ENV=production.');
	process.exit(1);
}

process.env.BODY_SIZE_LIMIT ??= '1M';
// adapter-node closes every connection SHUTDOWN_TIMEOUT seconds after SIGTERM (its default is 30);
// the app stops open streams one second before that (see docs/operations.md).
process.env.SHUTDOWN_TIMEOUT ??= '10';
// adapter-node assumes https when ORIGIN is unset, which breaks form posts over plain http on a
// developer's machine; deployments set ORIGIN (or PROTOCOL_HEADER/HOST_HEADER behind a proxy).
if (!production && !process.env.ORIGIN && !process.env.PROTOCOL_HEADER) {
	process.env.ORIGIN = `http://localhost:${process.env.PORT ?? '3000'}`;
}
await import(new URL(`../${BUILD_ENTRY}`, import.meta.url).href);
