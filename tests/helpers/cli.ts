import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectDatabase, type DbHandle } from '$lib/server/db';
import { createEmptyPostgresDatabase } from './db';
import { cleanEnv } from './env';

/** Operator commands (scripts/*.ts) run as an operator runs them: a separate process on the app's database. */

const ROOT = resolve(import.meta.dirname, '../..');

/** Runs `scripts/<script>` to its end in a fresh shell's environment plus `env`: no variable of the test run leaks in. */
export function runScript(
	script: string,
	env: Record<string, string>,
	args: string[] = []
): Promise<{ code: number | null; output: string }> {
	return new Promise((done, fail) => {
		const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}`, ...args], {
			cwd: ROOT,
			env: cleanEnv(env),
			stdio: ['ignore', 'pipe', 'pipe']
		});
		let output = '';
		child.stdout.on('data', (chunk: Buffer) => (output += String(chunk)));
		child.stderr.on('data', (chunk: Buffer) => (output += String(chunk)));
		child.once('error', fail);
		child.once('exit', (code) => done({ code, output }));
	});
}

export interface Deployment {
	/** The environment that points a command at this database. */
	env: Record<string, string>;
	/** Opens the database from the test process (PGlite: only while no command is running). */
	open(): Promise<DbHandle>;
	cleanup(): Promise<void>;
}

/** An empty database of each kind, as a deployment's commands would find it. */
export const deployments: Record<'pglite' | 'postgres', () => Promise<Deployment>> = {
	async pglite() {
		const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
		return {
			env: { DATA_DIR: dataDir },
			open: () => connectDatabase({ dataDir }),
			async cleanup() {
				rmSync(dataDir, { recursive: true, force: true });
			}
		};
	},
	async postgres() {
		const database = await createEmptyPostgresDatabase();
		return {
			env: { DATABASE_URL: database.url },
			open: () => connectDatabase({ databaseUrl: database.url, poolSize: 2 }),
			cleanup: () => database.drop()
		};
	}
};
