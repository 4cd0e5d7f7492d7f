import { Kysely, PostgresDialect, sql, type Dialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { mkdirSync } from 'node:fs';
import type { Database } from './schema';

export type DatabaseKind = 'postgres' | 'pglite';

/** A Kysely instance plus what only the connection layer knows. */
export interface DbHandle {
	db: Kysely<Database>;
	kind: DatabaseKind;
	/**
	 * Runs a multi-statement SQL script (a migration file) on the connection `executor` holds.
	 * `pg` runs parameterless text with the simple protocol, which accepts several statements;
	 * PGlite's `query()` refuses them, so it goes through `exec()` on the one connection it has.
	 */
	runScript(executor: Kysely<Database>, script: string): Promise<void>;
	close(): Promise<void>;
}

// int8 (count, bigint micro-dollars) and numeric (sum of bigints) arrive as strings from `pg` and
// as numbers or strings from PGlite; every value we store fits in a double, so both become numbers
// here, in one place.
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const toNumber = (value: string) => Number(value);
/** PGlite takes its parsers at creation; tests creating their own instance pass these. */
export const pgliteParsers = { [INT8_OID]: toNumber, [NUMERIC_OID]: toNumber };

export interface ConnectOptions {
	databaseUrl?: string;
	dataDir?: string;
	poolSize?: number;
	/** Tests pass an in-memory PGlite. */
	pglite?: PGlite;
	/** Used as `application_name`, so pg_stat_activity shows who is connected. */
	applicationName?: string;
}

export async function connectDatabase(options: ConnectOptions): Promise<DbHandle> {
	if (options.databaseUrl) return connectPostgres(options.databaseUrl, options);
	return connectPGlite(options);
}

/** At most this many distinct statements are prepared; any further one runs unnamed, as before. */
export const MAX_PREPARED_STATEMENTS = 500;

/**
 * Gives each distinct statement text a name, the same one every time, until `max` names are
 * given; after that it answers undefined (the statement runs unnamed).
 */
export function statementNamer(max: number): (text: string) => string | undefined {
	const names = new Map<string, string>();
	return (text) => {
		let name = names.get(text);
		if (name === undefined && names.size < max) {
			name = `lk_${names.size}`;
			names.set(text, name);
		}
		return name;
	};
}

const nameOfStatement = statementNamer(MAX_PREPARED_STATEMENTS);

/**
 * A `pg` client that names each parameterised statement, so every pooled connection parses and
 * plans it once and then only binds and executes it (a PostgreSQL prepared statement; `pg`
 * remembers per connection which names it has prepared). Kysely sends the same text for the same
 * query shape, and the app has a few hundred shapes at most; beyond MAX_PREPARED_STATEMENTS new
 * texts run unnamed, so text built from variable-length lists cannot grow the server's memory
 * without bound. Measured on the streamed-chat path (pg_stat_statements): planning the
 * access-token statement took 0.3 ms of its 0.36 ms. Parameterless text (migrations,
 * BEGIN/COMMIT) stays on the simple protocol.
 */
class PreparingClient extends pg.Client {
	// pg's overloads; only (text, values) with values is changed.
	override query(...args: unknown[]): never {
		const [text, values] = args;
		const name =
			args.length === 2 && typeof text === 'string' && Array.isArray(values) && values.length > 0
				? nameOfStatement(text)
				: undefined;
		const query = super.query as (...queryArgs: unknown[]) => never;
		return name ? query.call(this, { name, text, values }) : query.apply(this, args);
	}
}

function connectPostgres(url: string, options: ConnectOptions): DbHandle {
	const pool = new pg.Pool({
		Client: PreparingClient,
		connectionString: url,
		max: options.poolSize ?? 10,
		application_name: options.applicationName ?? 'latchkey',
		// Fail fast when the server is away so requests get a clear 503 instead of hanging.
		connectionTimeoutMillis: 5_000,
		idleTimeoutMillis: 30_000,
		types: {
			getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
				if (oid === INT8_OID || oid === NUMERIC_OID) return toNumber;
				return pg.types.getTypeParser(oid, format);
			}) as typeof pg.types.getTypeParser
		}
	});
	// A client losing its server (restart, network cut) emits 'error'; without a listener that is an
	// uncaught exception that kills the process. The failing query still rejects and the pool
	// replaces the client, so the events themselves need no handling.
	pool.on('error', () => {});
	pool.on('connect', (client) => client.on('error', () => {}));
	const dialect: Dialect = new PostgresDialect({ pool, cursor: Cursor });
	const db = new Kysely<Database>({ dialect });
	return {
		db,
		kind: 'postgres',
		async runScript(executor, script) {
			await sql.raw(script).execute(executor);
		},
		close: () => db.destroy()
	};
}

async function connectPGlite(options: ConnectOptions): Promise<DbHandle> {
	const { PGlite } = await import('@electric-sql/pglite');
	let pglite = options.pglite;
	if (!pglite) {
		const dataDir = options.dataDir ?? './data';
		mkdirSync(dataDir, { recursive: true, mode: 0o700 });
		pglite = await PGlite.create(`${dataDir}/pgdata`, { parsers: pgliteParsers });
	}
	const instance = pglite;
	const db = new Kysely<Database>({ dialect: new PGliteDialect(instance) });
	return {
		db,
		kind: 'pglite',
		async runScript(_executor, script) {
			// The caller holds PGlite's single connection (inside a Kysely transaction), so this
			// runs inside that transaction.
			await instance.exec(script);
		},
		close: () => db.destroy()
	};
}
