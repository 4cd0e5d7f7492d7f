import type { Kysely } from 'kysely';
import { loadConfig, type Config } from './config';
import { connectDatabase, migrate, type Database, type DbHandle } from './db';
import { createLucia, type LuciaAuth } from './auth';
import { createLogger, type Logger } from './log';
import { loadKeyring, type Keyring } from './vault';
import { UsageWriter } from './usage';
import { ActiveChats, type ChatDeps, type RoutingHooks } from './routing';
import type { KeyHooks } from './keys';
import { createMetrics, type Metrics } from './metrics';
import { createMailer, type Mailer } from './alerts';

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
	/** Observers of the chat path: the metrics' hooks. */
	routingHooks: RoutingHooks;
	/** Observers of live key checks: the metrics' hooks. */
	keyHooks: KeyHooks;
	/** This process's Prometheus registry (`GET /metrics`). */
	metrics: Metrics;
	/** Chat requests in flight; graceful shutdown stops them and waits for their bookkeeping. */
	activeChats: ActiveChats;
	/** E-mail alerts over SMTP_URL; undefined when it is not set. */
	mailer: Mailer | undefined;
	close(): Promise<void>;
}

export interface CreateServicesOptions {
	config: Config;
	log?: Logger;
	dbHandle?: DbHandle;
	runMigrations?: boolean;
	/** Default: from `config.masterKeys`, else generated once into DATA_DIR (embedded mode only). */
	keyring?: Keyring;
	/** Node process metrics (memory, CPU, event loop) in the registry; the server turns them on. */
	processMetrics?: boolean;
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
		if (result.applied.length > 0 || result.definitions.length > 0)
			log.info({ applied: result.applied, definitions: result.definitions }, 'database migrations applied');
		if (result.newerRelease)
			log.warn('the database was migrated by a newer release; its functions were left as they are');
	}
	const db = dbHandle.db;
	const mailer = config.alerts.smtp ? createMailer(config.alerts.smtp) : undefined;
	const usageWriter = new UsageWriter(db, { log });
	const metrics = createMetrics({
		processMetrics: options.processMetrics ?? false,
		pendingWrites: () => usageWriter.pendingCount
	});
	return {
		config,
		dbHandle,
		db,
		lucia: createLucia(db),
		log,
		keyring,
		usageWriter,
		routingHooks: metrics.routingHooks,
		keyHooks: metrics.keyHooks,
		metrics,
		activeChats: new ActiveChats(),
		mailer,
		async close() {
			mailer?.close();
			await usageWriter.flush();
			await dbHandle.close();
		}
	};
}

/** What the chat path needs, taken from the services; `log` is the request's logger when there is one. */
export function chatDeps(services: Services, log: Logger = services.log): ChatDeps {
	return {
		db: services.db,
		config: services.config,
		keyring: services.keyring,
		usageWriter: services.usageWriter,
		log,
		hooks: services.routingHooks,
		activeChats: services.activeChats
	};
}

let current: Services | undefined;

/** Called once by the server's `init` hook. */
export async function startServices(env: Record<string, string | undefined> = process.env): Promise<Services> {
	if (current) return current;
	const config = loadConfig(env);
	current = await createServices({ config, processMetrics: true });
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
