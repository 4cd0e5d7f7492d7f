// `npm test`: builds the app (the e2e and browser tests drive the built server), then runs every
// Vitest project. Extra arguments go to Vitest: `npm test -- --project unit`.
import { spawnSync } from 'node:child_process';

function run(command, args) {
	const result = spawnSync(command, args, { stdio: 'inherit' });
	if (result.status !== 0) process.exit(result.status ?? 1);
}

const args = process.argv.slice(2);
if (process.env.SKIP_BUILD !== '1') {
	run('npx', ['svelte-kit', 'sync']);
	run('npx', ['vite', 'build', '--logLevel', 'error']);
}
run('npx', ['vitest', 'run', ...args]);
