import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { DbHandle } from './connect';
import type { Database } from './schema';

/** One SQL file: a migration (`NNNN_name.sql`) or a function's definition (`functions/<name>.sql`). */
export interface SqlFile {
	name: string;
	sql: string;
}
export type Migration = SqlFile;
export type Definition = SqlFile;

/** What `migrate` brings a database to: the migrations in order, and each function's definition. */
export interface SchemaFiles {
	migrations: Migration[];
	definitions: Definition[];
}

export interface MigrationResult {
	applied: string[];
	alreadyApplied: number;
	/** The definitions (re)applied: new, or changed since they were last applied. */
	definitions: string[];
	/** The database holds migrations this code does not know (a newer release): definitions left as they are. */
	newerRelease: boolean;
}

/** Any fixed 64-bit number works; all Latchkey instances must agree on it. */
const MIGRATION_LOCK_KEY = 7_245_913_004_181n;

export const defaultMigrationsDir = () => resolve(process.cwd(), 'migrations');

export class MigrationError extends Error {
	override name = 'MigrationError';
}

/** The `.sql` files of `dir` in name order; each name must match `pattern`, so no file is skipped unseen. */
function readSqlFiles(dir: string, pattern: RegExp): SqlFile[] {
	let names: string[];
	try {
		names = readdirSync(dir).filter((file) => file.endsWith('.sql'));
	} catch (error) {
		throw new MigrationError(`cannot read ${dir} (it ships with the app): ${(error as Error).message}`);
	}
	return names
		.map((file) => {
			const name = file.replace(/\.sql$/, '');
			if (!pattern.test(name)) throw new MigrationError(`${join(dir, file)}: not a name ${pattern} allows`);
			return { name, sql: readFileSync(join(dir, file), 'utf8') };
		})
		.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Reads `NNNN_name.sql` files in name order. */
export function readMigrations(dir: string = defaultMigrationsDir()): Migration[] {
	return readSqlFiles(dir, /^\d{4}_[a-z0-9_]+$/);
}

/**
 * Reads `functions/<name>.sql`: each holds ONE function's whole definition (`create or replace
 * function`), so a change is a diff of that file rather than a copy in a new migration. They are
 * applied in name order; a `language sql` body that calls another function must sort after it.
 */
export function readDefinitions(dir: string = join(defaultMigrationsDir(), 'functions')): Definition[] {
	return readSqlFiles(dir, /^[a-z0-9_]+$/);
}

export const readSchemaFiles = (dir: string = defaultMigrationsDir()): SchemaFiles => ({
	migrations: readMigrations(dir),
	definitions: readDefinitions(join(dir, 'functions'))
});

const checksum = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Applies the pending migrations and the new or changed definitions in ONE transaction, under a
 * session advisory lock so that several instances starting together apply each exactly once (the
 * others wait for the lock, then find nothing left to do). One transaction: a column change and
 * the functions that read it commit together, and a failure leaves the database as it was. So a
 * migration cannot `create index concurrently`, nor use an enum value an earlier pending one added.
 */
export async function migrate(handle: DbHandle, files: SchemaFiles = readSchemaFiles()): Promise<MigrationResult> {
	return handle.db.connection().execute(async (conn) => {
		await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
		try {
			return await migrateLocked(handle, conn, files);
		} finally {
			// A broken connection frees the lock anyway; the error that matters is the one above.
			await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn).catch(() => undefined);
		}
	});
}

async function migrateLocked(handle: DbHandle, conn: Kysely<Database>, files: SchemaFiles): Promise<MigrationResult> {
	for (const table of ['schema_migrations', 'schema_definitions'] as const) {
		await sql`
			create table if not exists ${sql.table(table)} (
				name text primary key,
				checksum text not null,
				applied_at timestamptz not null default now()
			)`.execute(conn);
	}
	const done = await checksums(conn, 'schema_migrations');
	const pending = files.migrations.filter((migration) => {
		const recorded = done.get(migration.name);
		if (recorded !== undefined && recorded !== checksum(migration.sql)) {
			throw new MigrationError(
				`migration ${migration.name} was edited after it was applied; add a new migration instead`
			);
		}
		return recorded === undefined;
	});
	// An older instance restarting during a rolling deploy must not put its older functions back.
	const known = new Set(files.migrations.map((m) => m.name));
	const unknown = [...done.keys()].filter((name) => !known.has(name));
	const newerRelease = unknown.length > 0;
	if (newerRelease && pending.length > 0) {
		// Not an older release (it has nothing pending): files renamed or removed after they ran.
		throw new MigrationError(
			`the database holds migrations these files lack (${unknown.join(', ')}) and lacks some they hold (${pending.map((m) => m.name).join(', ')})`
		);
	}
	const defined = await checksums(conn, 'schema_definitions');
	const changed = newerRelease
		? []
		: files.definitions.filter((definition) => defined.get(definition.name) !== checksum(definition.sql));
	if (pending.length > 0 || changed.length > 0) await applyAll(handle, conn, pending, changed);
	return {
		applied: pending.map((m) => m.name),
		alreadyApplied: done.size,
		definitions: changed.map((d) => d.name),
		newerRelease
	};
}

async function checksums(
	conn: Kysely<Database>,
	table: 'schema_migrations' | 'schema_definitions'
): Promise<Map<string, string>> {
	const rows = await conn.selectFrom(table).select(['name', 'checksum']).execute();
	return new Map(rows.map((row) => [row.name, row.checksum]));
}

async function applyAll(handle: DbHandle, conn: Kysely<Database>, migrations: Migration[], definitions: Definition[]) {
	await conn.transaction().execute(async (trx) => {
		const run = async (label: string, file: SqlFile) => {
			try {
				await handle.runScript(trx, file.sql);
			} catch (error) {
				throw new MigrationError(`${label} ${file.name} failed: ${(error as Error).message}`);
			}
		};
		for (const migration of migrations) {
			await run('migration', migration);
			await trx
				.insertInto('schema_migrations')
				.values({ name: migration.name, checksum: checksum(migration.sql) })
				.execute();
		}
		for (const definition of definitions) {
			await run('definition', definition);
			const sum = checksum(definition.sql);
			await trx
				.insertInto('schema_definitions')
				.values({ name: definition.name, checksum: sum })
				.onConflict((oc) => oc.column('name').doUpdateSet({ checksum: sum, applied_at: sql`now()` }))
				.execute();
		}
	});
}
