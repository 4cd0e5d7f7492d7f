import type { Kysely } from 'kysely';
import { loadConfig, type Config } from './config';
import { connectDatabase, migrate, type Database, type DbHandle } from './db';
import { createLucia, type LuciaAuth } from './auth';
import { createLogger, type Logger } from './log';

/**
 * Everything a request handler needs, built once per process at start-up (`hooks.server.ts`
 * `init`) and passed explicitly to domain functions. Tests build their own with `createServices`.
 */
export interface Services {
	config: Config;
	dbHandle: DbHandle;
	db: Kysely<Database>;
	lucia: LuciaAuth;
	log: Logger;
	close(): Promise<void>;
}

export interface CreateServicesOptions {
	config: Config;
	log?: Logger;
	dbHandle?: DbHandle;
	runMigrations?: boolean;
}

export async function createServices(options: CreateServicesOptions): Promise<Services> {
	const { config } = options;
	const log = options.log ?? createLogger({ level: config.logLevel });
	const dbHandle =
		options.dbHandle ??
		(await connectDatabase({
			databaseUrl: config.database.url,
			dataDir: config.database.dataDir,
			poolSize: config.database.poolSize
		}));
	if (options.runMigrations ?? true) {
		const result = await migrate(dbHandle);
		if (result.applied.length > 0) log.info({ applied: result.applied }, 'database migrations applied');
	}
	const db = dbHandle.db;
	return {
		config,
		dbHandle,
		db,
		lucia: createLucia(db),
		log,
		close: () => dbHandle.close()
	};
}

let current: Services | undefined;

/** Called once by the server's `init` hook. */
export async function startServices(env: Record<string, string | undefined> = process.env): Promise<Services> {
	if (current) return current;
	const config = loadConfig(env);
	current = await createServices({ config });
	return current;
}

export function getServices(): Services {
	if (!current) throw new Error('Services are not started; the init hook must run first.');
	return current;
}

export async function stopServices(): Promise<void> {
	const services = current;
	current = undefined;
	await services?.close();
}
