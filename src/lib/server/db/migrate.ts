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

export interface MigrationResult {
	applied: string[];
	alreadyApplied: number;
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

const checksum = (text: string) => createHash('sha256').update(text).digest('hex');

export class MigrationError extends Error {
	override name = 'MigrationError';
}

/**
 * Applies pending migrations, each in its own transaction, under a session advisory lock so
 * that several instances starting together apply each migration exactly once: the second
 * instance waits for the lock, then finds nothing left to do.
 */
export async function migrate(handle: DbHandle, migrations: Migration[] = readMigrations()): Promise<MigrationResult> {
	return handle.db.connection().execute(async (conn) => {
		await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
		try {
			await sql`
				create table if not exists schema_migrations (
					name text primary key,
					checksum text not null,
					applied_at timestamptz not null default now()
				)`.execute(conn);
			const done = new Map(
				(await conn.selectFrom('schema_migrations').select(['name', 'checksum']).execute()).map((row) => [
					row.name,
					row.checksum
				])
			);
			const applied: string[] = [];
			for (const migration of migrations) {
				const sum = checksum(migration.sql);
				const recorded = done.get(migration.name);
				if (recorded !== undefined) {
					if (recorded !== sum) {
						throw new MigrationError(
							`migration ${migration.name} was edited after it was applied; add a new migration instead`
						);
					}
					continue;
				}
				await applyOne(handle, conn, migration, sum);
				applied.push(migration.name);
			}
			return { applied, alreadyApplied: done.size };
		} finally {
			await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn);
		}
	});
}

async function applyOne(handle: DbHandle, conn: Kysely<Database>, migration: Migration, sum: string) {
	await conn.transaction().execute(async (trx) => {
		try {
			await handle.runScript(trx, migration.sql);
		} catch (error) {
			throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`);
		}
		await trx.insertInto('schema_migrations').values({ name: migration.name, checksum: sum }).execute();
	});
}
