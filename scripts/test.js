// `npm test`: builds the app (the e2e and browser tests drive the built server), then runs every
// Vitest project, then the whole-suite leak scan over every log and metrics text the tests made
// (scripts/scan-test-output.ts). Extra arguments go to Vitest: `npm test -- --project unit`.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

function status(command, args) {
	return spawnSync(command, args, { stdio: 'inherit' }).status ?? 1;
}

function run(command, args) {
	const code = status(command, args);
	if (code !== 0) process.exit(code);
}

const args = process.argv.slice(2);
// The scan reads what this run writes, and only that.
for (const dir of ['test-results/logs', 'test-results/secrets']) rmSync(dir, { recursive: true, force: true });
if (process.env.SKIP_BUILD !== '1') {
	run('npx', ['svelte-kit', 'sync']);
	run('npx', ['vite', 'build', '--logLevel', 'error']);
}
const tests = status('npx', ['vitest', 'run', ...args]);
const scan = status('npx', ['tsx', 'scripts/scan-test-output.ts']);
process.exit(tests !== 0 ? tests : scan);
