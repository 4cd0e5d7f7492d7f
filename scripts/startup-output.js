// What `npm start` and `npm run demo` print while Latchkey starts: one banner in words instead of
// Vite's build chatter and the server's JSON log lines. Once the banner is out, logs pass as they are.
import { spawnSync } from 'node:child_process';

/**
 * Builds with Vite, its output kept back (its "run npm run preview" advice and plugin timings are
 * not for someone starting the app) unless the build fails. Returns the exit status.
 * @param {string} announce what to print before building
 * @returns {number}
 */
export function quietBuild(announce) {
	process.stdout.write(`${announce}… `);
	const started = Date.now();
	const result = spawnSync('npx', ['vite', 'build', '--logLevel', 'warn'], { encoding: 'utf8', shell: false });
	if (result.status === 0) {
		process.stdout.write(`done in ${Math.round((Date.now() - started) / 1000)} s.\n`);
		return 0;
	}
	process.stdout.write('failed:\n');
	process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
	return result.status ?? 1;
}

const READY = /^Latchkey is ready at (\S+) \(database: (.+)\)$/;
// adapter-node's own line: the banner names the address people should open instead.
const LISTENING = /^Listening on /;
const WARNING_LEVELS = new Set(['warn', 'error', 'fatal']);

/** @typedef {{ url: string | null; database: string | null; warnings: string[] }} Startup */

/**
 * Reads the server's output line by line. Until `release()`, warnings are kept as sentences for
 * the banner and other lines held back; `release()` hands them over and lets later lines through.
 * @param {(text: string) => void} write where released lines go
 */
export function startupOutput(write) {
	/** @type {Startup} */
	const startup = { url: null, database: null, warnings: [] };
	/** @type {string[]} */
	const held = [];
	let released = false;
	let partial = '';

	/** @param {string} line */
	function line(line) {
		if (LISTENING.test(line)) return;
		if (released) return write(`${line}\n`);
		const entry = jsonLine(line);
		const ready = entry ? READY.exec(entry.msg) : null;
		if (ready) {
			startup.url = ready[1] ?? null;
			startup.database = ready[2] ?? null;
		} else if (entry && WARNING_LEVELS.has(entry.level)) {
			startup.warnings.push(entry.msg);
		} else {
			held.push(line);
		}
	}

	return {
		startup,
		/** @param {Buffer | string} chunk */
		push(chunk) {
			const lines = (partial + String(chunk)).split('\n');
			partial = lines.pop() ?? '';
			for (const text of lines) if (text.trim() !== '') line(text);
		},
		/** Lines let through from now on; returns what was held back (info logs, plain text). */
		release() {
			released = true;
			return held.splice(0);
		}
	};
}

/**
 * One pino line's level and message, or null for anything else.
 * @param {string} line
 * @returns {{ level: string; msg: string } | null}
 */
function jsonLine(line) {
	if (!line.startsWith('{')) return null;
	try {
		const entry = JSON.parse(line);
		return typeof entry?.msg === 'string' ? { level: String(entry.level), msg: entry.msg } : null;
	} catch {
		return null;
	}
}

/**
 * The start-up warnings in words, one paragraph each, for the banner.
 * @param {string[]} warnings
 * @returns {string}
 */
export function warningsText(warnings) {
	return warnings.map((warning) => `  Warning: ${warning}\n`).join('');
}
