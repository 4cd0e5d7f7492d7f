import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { describe, beforeAll, afterAll } from 'vitest';
import { connectDatabase, migrate, readSchemaFiles, type DbHandle, type DatabaseKind } from '$lib/server/db';
import { postgresSkipReason, testDatabaseUrl } from './env';
import { startPGlite } from './pglite-saved';

export interface TestDatabase {
	kind: DatabaseKind;
	handle: DbHandle;
	/** Set for PostgreSQL: the URL of this file's own database (for spawning servers on it). */
	url: string | undefined;
	drop(): Promise<void>;
}

/** A fresh, empty PostgreSQL database on the test server; the caller owns it. */
export async function createEmptyPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
	if (!testDatabaseUrl) throw new Error(postgresSkipReason);
	const name = `lk_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
	const admin = new pg.Client({ connectionString: testDatabaseUrl });
	await admin.connect();
	try {
		await admin.query(`create database "${name}"`);
	} finally {
		await admin.end();
	}
	const url = new URL(testDatabaseUrl);
	url.pathname = `/${name}`;
	return {
		url: url.toString(),
		async drop() {
			const client = new pg.Client({ connectionString: testDatabaseUrl });
			await client.connect();
			try {
				await client.query(`drop database if exists "${name}" with (force)`);
			} finally {
				await client.end();
			}
		}
	};
}

/**
 * Each test file gets its own database (PostgreSQL) or in-memory instance (PGlite, started from a
 * saved data directory: pglite-saved.ts), migrated.
 */
export async function createTestDatabase(
	kind: DatabaseKind,
	options: { migrate?: boolean } = {}
): Promise<TestDatabase> {
	if (kind === 'pglite') {
		const state = (options.migrate ?? true) ? 'migrated' : 'empty';
		const files = readSchemaFiles();
		const { pglite, save } = await startPGlite(state, files);
		const handle = await connectDatabase({ pglite });
		// Also on a save: finds nothing to do, and would fail on a save that does not match the files.
		if (state === 'migrated') await migrate(handle, files);
		await save?.();
		return { kind, handle, url: undefined, drop: () => handle.close() };
	}
	const database = await createEmptyPostgresDatabase();
	const handle = await connectDatabase({ databaseUrl: database.url, poolSize: 10 });
	if (options.migrate ?? true) await migrate(handle);
	return {
		kind,
		handle,
		url: database.url,
		async drop() {
			await handle.close();
			await database.drop();
		}
	};
}

export const DATABASE_KINDS: DatabaseKind[] = ['pglite', 'postgres'];

/**
 * Runs the same suite against PGlite and the real PostgreSQL. Without TEST_DATABASE_URL the
 * PostgreSQL half is skipped (global-setup says why; CI sets REQUIRE_POSTGRES=1 to forbid it).
 */
export function describeEachDatabase(title: string, body: (database: () => TestDatabase) => void): void {
	for (const kind of DATABASE_KINDS) {
		const skip = kind === 'postgres' && !testDatabaseUrl;
		describe.skipIf(skip)(`${title} [${kind}]`, () => {
			let database: TestDatabase | undefined;
			beforeAll(async () => {
				database = await createTestDatabase(kind);
			});
			afterAll(async () => {
				await database?.drop();
			});
			body(() => {
				if (!database) throw new Error('test database not ready');
				return database;
			});
		});
	}
}
