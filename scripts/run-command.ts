import { ConfigError } from '../src/lib/server/config';

/** Runs an operator command to its exit code; a bad environment or a crash prints one clear line and exits 1. */
export function runCommand(main: () => Promise<number>, failure: string): void {
	main()
		.then((code) => process.exit(code))
		.catch((error: unknown) => {
			if (error instanceof ConfigError) console.error(error.message);
			else console.error(`${failure}: ${error instanceof Error ? error.message : String(error)}`);
			process.exit(1);
		});
}
