// Run the fakes in their own process: `npx tsx tests/fakes/cli.ts --port 4010 [--host 127.0.0.1]`.
// Prints one JSON line {"url", "openai", "anthropic", "google", "openrouter"} on stdout once
// listening, then serves until SIGTERM/SIGINT. Script it through /__control (see README.md).
import { parseArgs } from 'node:util';
import { startFakeProviders } from './server';

const DEFAULT_PORT = 4010;

function parsePort(value: string | undefined): number {
	if (value === undefined) return DEFAULT_PORT;
	const port = Number(value);
	if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`invalid --port ${value}`);
	return port;
}

async function main(): Promise<void> {
	const { values } = parseArgs({
		options: { port: { type: 'string' }, host: { type: 'string' } },
		strict: true
	});
	const fake = await startFakeProviders({ port: parsePort(values.port), host: values.host });
	process.stdout.write(`${JSON.stringify({ url: fake.url, ...fake.baseUrls })}\n`);

	const stop = (): void => {
		fake.close().then(
			() => process.exit(0),
			() => process.exit(1)
		);
	};
	process.once('SIGTERM', stop);
	process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
	console.error(error instanceof Error ? error.message : error);
	process.exit(1);
});
