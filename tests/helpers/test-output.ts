import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { PUBLIC_PREFIX } from './secret-pieces';

/**
 * What the whole-suite leak scan (scripts/scan-test-output.ts, run by `npm test` after Vitest)
 * reads: every log and metrics text the app wrote during the tests, under `test-results/logs/`,
 * and every secret the tests made, one a line under `test-results/secrets/`. Active only inside
 * Vitest, so benchmarks that share these helpers write nothing here.
 */
export const TEST_RESULTS_DIR = resolve(import.meta.dirname, '../../test-results');
export const LOGS_DIR = join(TEST_RESULTS_DIR, 'logs');
export const SECRETS_DIR = join(TEST_RESULTS_DIR, 'secrets');

const recording = process.env.VITEST !== undefined;
const recorded = new Set<string>();
let sequence = 0;

/**
 * Remembers a key, token or other secret a test created, so the scan looks for it everywhere.
 * `publicPart` is the start of it that may show (a key's `sk-proj-` and a test's own label);
 * by default the public prefix of its kind (`secret-pieces.ts`). One line per secret:
 * `<length of the public part><tab><secret>`.
 */
export function recordSecret(secret: string | undefined | null, publicPart?: string): void {
	if (!recording || !secret || recorded.has(secret)) return;
	recorded.add(secret);
	const publicLength = publicPart !== undefined ? publicPart.length : (PUBLIC_PREFIX.exec(secret)?.[0].length ?? 0);
	mkdirSync(SECRETS_DIR, { recursive: true });
	appendFileSync(join(SECRETS_DIR, `${process.pid}.txt`), `${publicLength}\t${secret.replace(/[\r\n]/g, '')}\n`);
}

/** The test file this worker is running, for file names (`keys-leak`), or `unknown`. */
function currentTestFile(): string {
	const state = (globalThis as { __vitest_worker__?: { filepath?: string } }).__vitest_worker__;
	const file = state?.filepath ? basename(state.filepath).replace(/\.test\.ts$/, '') : 'unknown';
	return file.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * A fresh file path under `test-results/logs/` named after the running test file, e.g.
 * `leak-scan.app-4242-1.log`; undefined outside Vitest.
 */
export function testLogPath(kind: string, extension = 'log'): string | undefined {
	if (!recording) return undefined;
	mkdirSync(LOGS_DIR, { recursive: true });
	sequence += 1;
	return join(LOGS_DIR, `${currentTestFile()}.${kind}-${process.pid}-${sequence}.${extension}`);
}

/** Appends to a log file from `testLogPath` (synchronously, so nothing is lost if a worker dies). */
export function appendTestLog(path: string | undefined, text: string): void {
	if (path) appendFileSync(path, text);
}

/** Writes a whole file from `testLogPath` (a metrics scrape). */
export function writeTestLog(path: string | undefined, text: string): void {
	if (path) writeFileSync(path, text);
}

/** Marks that a Vitest project ran, so the scan knows which output it must find. */
export function markProjectRan(name: string): void {
	if (!recording || !name) return;
	mkdirSync(LOGS_DIR, { recursive: true });
	writeFileSync(join(LOGS_DIR, `project-${name.replace(/[^A-Za-z0-9_-]/g, '_')}.ran`), '');
}
