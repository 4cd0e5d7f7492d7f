import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { DbHandle } from './connect';
import type { Database } from './schema';

export interface Migration {
	name: string;
	sql: string;
}

/** A function's current definition: `migrations/functions/<name>.sql`, applied again whenever it changes. */
export interface Definition {
	name: string;
	sql: string;
}

export interface MigrationResult {
	applied: string[];
	alreadyApplied: number;
	/** The definitions (re)applied: new, or changed since they were last applied. */
	definitions: string[];
}

/** Any fixed 64-bit number works; all Latchkey instances must agree on it. */
const MIGRATION_LOCK_KEY = 7_245_913_004_181n;

export const defaultMigrationsDir = () => resolve(process.cwd(), 'migrations');

/** Reads `NNNN_name.sql` files in name order. */
export function readMigrations(dir: string = defaultMigrationsDir()): Migration[] {
	return readdirSync(dir)
		.filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
		.sort()
		.map((file) => ({ name: file.replace(/\.sql$/, ''), sql: readFileSync(join(dir, file), 'utf8') }));
}

export const defaultDefinitionsDir = () => resolve(defaultMigrationsDir(), 'functions');

/**
 * Reads `functions/<name>.sql` in name order. Each file holds ONE function's whole definition
 * (`create or replace function`), so a change is a diff of that file rather than a copy in a new
 * migration; PL/pgSQL bodies are checked when called, so their order does not matter.
 */
export function readDefinitions(dir: string = defaultDefinitionsDir()): Definition[] {
	return readdirSync(dir)
		.filter((file) => /^[a-z0-9_]+\.sql$/.test(file))
		.sort()
		.map((file) => ({ name: file.replace(/\.sql$/, ''), sql: readFileSync(join(dir, file), 'utf8') }));
}

const checksum = (text: string) => createHash('sha256').update(text).digest('hex');

export class MigrationError extends Error {
	override name = 'MigrationError';
}

/**
 * Applies pending migrations, each in its own transaction, under a session advisory lock so
 * that several instances starting together apply each migration exactly once: the second
 * instance waits for the lock, then finds nothing left to do. Then the definitions that are new or
 * changed, in the same transaction as the last pending migration (a migration that changes a
 * column's type commits together with the functions that read it), or in one of their own.
 */
export async function migrate(
	handle: DbHandle,
	migrations: Migration[] = readMigrations(),
	definitions: Definition[] = readDefinitions()
): Promise<MigrationResult> {
	return handle.db.connection().execute(async (conn) => {
		await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
		try {
			await sql`
				create table if not exists schema_migrations (
					name text primary key,
					checksum text not null,
					applied_at timestamptz not null default now()
				)`.execute(conn);
			await sql`
				create table if not exists schema_definitions (
					name text primary key,
					checksum text not null,
					applied_at timestamptz not null default now()
				)`.execute(conn);
			const done = await checksums(conn, 'schema_migrations');
			const pending = migrations.filter((migration) => {
				const recorded = done.get(migration.name);
				if (recorded !== undefined && recorded !== checksum(migration.sql)) {
					throw new MigrationError(
						`migration ${migration.name} was edited after it was applied; add a new migration instead`
					);
				}
				return recorded === undefined;
			});
			const defined = await checksums(conn, 'schema_definitions');
			const changed = definitions.filter((definition) => defined.get(definition.name) !== checksum(definition.sql));
			for (const [i, migration] of pending.entries()) {
				await applyOne(handle, conn, migration, i === pending.length - 1 ? changed : []);
			}
			if (pending.length === 0 && changed.length > 0) await applyOne(handle, conn, undefined, changed);
			return {
				applied: pending.map((m) => m.name),
				alreadyApplied: done.size,
				definitions: changed.map((d) => d.name)
			};
		} finally {
			await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn);
		}
	});
}

async function checksums(
	conn: Kysely<Database>,
	table: 'schema_migrations' | 'schema_definitions'
): Promise<Map<string, string>> {
	const rows = await conn.selectFrom(table).select(['name', 'checksum']).execute();
	return new Map(rows.map((row) => [row.name, row.checksum]));
}

/** One transaction: `migration` (if any), then `definitions`, each recorded with its checksum. */
async function applyOne(
	handle: DbHandle,
	conn: Kysely<Database>,
	migration: Migration | undefined,
	definitions: Definition[]
) {
	await conn.transaction().execute(async (trx) => {
		if (migration) {
			try {
				await handle.runScript(trx, migration.sql);
			} catch (error) {
				throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`);
			}
			await trx
				.insertInto('schema_migrations')
				.values({ name: migration.name, checksum: checksum(migration.sql) })
				.execute();
		}
		for (const definition of definitions) {
			try {
				await handle.runScript(trx, definition.sql);
			} catch (error) {
				throw new MigrationError(`definition ${definition.name} failed: ${(error as Error).message}`);
			}
			const sum = checksum(definition.sql);
			await trx
				.insertInto('schema_definitions')
				.values({ name: definition.name, checksum: sum })
				.onConflict((oc) => oc.column('name').doUpdateSet({ checksum: sum, applied_at: sql`now()` }))
				.execute();
		}
	});
}
