import type { Kysely } from 'kysely';
import { loadConfig, type Config } from './config';
import { connectDatabase, migrate, type Database, type DbHandle } from './db';
import { createLucia, type LuciaAuth } from './auth';
import { createLogger, type Logger } from './log';
import { loadKeyring, type Keyring } from './vault';
import { UsageWriter } from './usage';
import type { ChatDeps, RoutingHooks } from './routing';

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
	/** Master keys for sealing provider keys: MASTER_KEYS, or the one generated into DATA_DIR. */
	keyring: Keyring;
	/** Writes usage records, retrying through database outages (flushed on shutdown). */
	usageWriter: UsageWriter;
	/** Observers of the chat path (metrics); empty until something registers. */
	routingHooks: RoutingHooks;
	close(): Promise<void>;
}

export interface CreateServicesOptions {
	config: Config;
	log?: Logger;
	dbHandle?: DbHandle;
	runMigrations?: boolean;
	/** Default: from `config.masterKeys`, else generated once into DATA_DIR (embedded mode only). */
	keyring?: Keyring;
}

export async function createServices(options: CreateServicesOptions): Promise<Services> {
	const { config } = options;
	const log = options.log ?? createLogger({ level: config.logLevel });
	// Before the database: a missing master key should stop start-up without touching it.
	const keyring = options.keyring ?? (await loadKeyring(config, log));
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
	const usageWriter = new UsageWriter(db, { log });
	return {
		config,
		dbHandle,
		db,
		lucia: createLucia(db),
		log,
		keyring,
		usageWriter,
		routingHooks: {},
		async close() {
			await usageWriter.flush();
			await dbHandle.close();
		}
	};
}

/** What the chat path needs, taken from the services. */
export function chatDeps(services: Services): ChatDeps {
	return {
		db: services.db,
		config: services.config,
		keyring: services.keyring,
		usageWriter: services.usageWriter,
		log: services.log,
		hooks: services.routingHooks
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
