// `npm start`: builds the app when the build is missing or older than the sources, then runs
// the adapter-node server. With NODE_ENV=production it never builds: deployments ship a build.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { quietBuild, startupOutput, warningsText } from './startup-output.js';

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
	const status = quietBuild('Building Latchkey (first start or sources changed)');
	if (status !== 0) process.exit(status);
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
if (production) {
	// Deployments read the JSON log lines as they are.
	await import(new URL(`../${BUILD_ENTRY}`, import.meta.url).href);
} else {
	runWithBanner();
}

/**
 * On a developer's machine the server runs as a child whose start-up lines become one banner:
 * the address, where the data lives and any warning in words; its logs follow as they are.
 */
function runWithBanner() {
	const server = spawn(process.execPath, [BUILD_ENTRY], { stdio: ['inherit', 'pipe', 'pipe'], env: process.env });
	const output = startupOutput((text) => process.stdout.write(text));
	let bannerShown = false;
	const showBanner = () => {
		if (bannerShown) return;
		bannerShown = true;
		const { url, database, warnings } = output.startup;
		output.release();
		process.stdout.write(
			`\nLatchkey is ready at ${url}\n\n  Data: ${database}\n${warningsText(warnings)}\n` +
				'Ctrl-C stops it. Log lines (JSON) follow below.\n\n'
		);
	};
	const onData = (/** @type {Buffer} */ chunk) => {
		output.push(chunk);
		// Warnings logged just after "ready" (the configuration's) still make the banner.
		if (!bannerShown && output.startup.url) setTimeout(showBanner, 150);
	};
	server.stdout.on('data', onData);
	server.stderr.on('data', onData);
	// adapter-node finishes open streams on SIGTERM/SIGINT; we exit with it.
	for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(signal, () => server.kill(signal));
	server.once('exit', (code, signal) => {
		// It stopped before it was ready (e.g. a bad environment): show everything it said.
		if (!bannerShown) {
			for (const line of output.release()) process.stderr.write(`${line}\n`);
			process.stderr.write(warningsText(output.startup.warnings));
		}
		process.exit(code ?? (signal ? 1 : 0));
	});
}
