import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { connectDatabase, migrate, readSchemaFiles, type Database, type DbHandle } from '$lib/server/db';
import { createEmptyPostgresDatabase, createTestDatabase, DATABASE_KINDS } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';

const files = readSchemaFiles();
const { migrations: all, definitions } = files;

/** Whether table `name` exists. */
async function tableExists(db: Kysely<Database>, name: string): Promise<boolean> {
	const { rows } = await sql<{ n: number }>`
		select count(*)::int as n from information_schema.tables where table_name = ${name}`.execute(db);
	return rows[0]?.n === 1;
}

/** The source of function `name` as the database holds it. */
async function functionSource(db: Kysely<Database>, name: string): Promise<string | undefined> {
	const { rows } = await sql<{ src: string }>`select prosrc as src from pg_proc where proname = ${name}`.execute(db);
	return rows[0]?.src;
}

const releaseChanged = definitions.map((d) =>
	d.name === 'limits_release' ? { ...d, sql: d.sql.replace('#variable_conflict use_column', '$&\n-- changed') } : d
);

describe.each(DATABASE_KINDS)('migrations [%s]', (kind) => {
	const skip = kind === 'postgres' && !testDatabaseUrl;
	const cleanups: Array<() => Promise<void>> = [];
	afterAll(async () => {
		for (const cleanup of cleanups) await cleanup();
	});
	const freshDatabase = async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		cleanups.push(database.drop);
		return database;
	};

	it.skipIf(skip)('apply every file once, record it, and do nothing the second time', async () => {
		const database = await freshDatabase();
		const first = await migrate(database.handle);
		expect(first.applied).toEqual(all.map((m) => m.name));
		expect(first.definitions).toEqual(definitions.map((d) => d.name));
		const second = await migrate(database.handle);
		expect(second).toEqual({ applied: [], alreadyApplied: all.length, definitions: [], newerRelease: false });
		const rows = await database.handle.db.selectFrom('schema_migrations').select('name').orderBy('name').execute();
		expect(rows.map((r) => r.name)).toEqual(all.map((m) => m.name));
	});

	it.skipIf(skip)('refuse to run when an applied migration was edited', async () => {
		const database = await freshDatabase();
		await migrate(database.handle);
		const edited = all.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
		await expect(migrate(database.handle, { migrations: edited, definitions })).rejects.toThrow(
			/was edited after it was applied/
		);
	});

	it.skipIf(skip)('apply a changed function definition again, and only that one', async () => {
		const database = await freshDatabase();
		const db = database.handle.db;
		await migrate(database.handle);
		expect(await functionSource(db, 'limits_release')).not.toContain('-- changed');
		const again = await migrate(database.handle, { migrations: all, definitions: releaseChanged });
		expect(again).toEqual({
			applied: [],
			alreadyApplied: all.length,
			definitions: ['limits_release'],
			newerRelease: false
		});
		expect(await functionSource(db, 'limits_release')).toContain('-- changed');
		expect((await migrate(database.handle, { migrations: all, definitions: releaseChanged })).definitions).toEqual([]);
	});

	it.skipIf(skip)('leave the functions of a newer release alone (an older instance restarting)', async () => {
		const database = await freshDatabase();
		const db = database.handle.db;
		const newer = { name: '9997_from_a_newer_release', sql: 'select 1;' };
		await migrate(database.handle, { migrations: [...all, newer], definitions: releaseChanged });
		const older = await migrate(database.handle);
		expect(older).toEqual({ applied: [], alreadyApplied: all.length + 1, definitions: [], newerRelease: true });
		expect(await functionSource(db, 'limits_release')).toContain('-- changed');
	});

	it.skipIf(skip)('keep the old function and record nothing when a changed definition fails', async () => {
		const database = await freshDatabase();
		const db = database.handle.db;
		await migrate(database.handle);
		const broken = releaseChanged.map((d) =>
			d.name === 'limits_release' ? { ...d, sql: `${d.sql}\nselect * from no_such_table;` } : d
		);
		await expect(migrate(database.handle, { migrations: all, definitions: broken })).rejects.toThrow(
			/definition limits_release failed/
		);
		expect(await functionSource(db, 'limits_release')).not.toContain('-- changed');
		expect((await migrate(database.handle, { migrations: all, definitions: releaseChanged })).definitions).toEqual([
			'limits_release'
		]);
	});

	it.skipIf(skip)('roll back every pending migration and definition when one of them fails', async () => {
		const database = await freshDatabase();
		const db = database.handle.db;
		await migrate(database.handle);
		const first = { name: '9998_half_of_a_change', sql: 'create table half_done (id int);' };
		const second = { name: '9999_broken', sql: 'select * from no_such_table;' };
		await expect(
			migrate(database.handle, { migrations: [...all, first, second], definitions: releaseChanged })
		).rejects.toThrow(/migration 9999_broken failed/);
		expect(await tableExists(db, 'half_done')).toBe(false);
		expect(await functionSource(db, 'limits_release')).not.toContain('-- changed');
		const recorded = await db.selectFrom('schema_migrations').select('name').execute();
		expect(recorded.map((r) => r.name)).not.toContain(first.name);
	});

	it.skipIf(skip)('refuse a function file whose name the migrator would not read', async () => {
		const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
		const { tmpdir } = await import('node:os');
		const { join } = await import('node:path');
		const dir = mkdtempSync(join(tmpdir(), 'lk-migrations-'));
		mkdirSync(join(dir, 'functions'));
		writeFileSync(join(dir, 'functions', 'limits-admit.sql'), 'select 1;');
		expect(() => readSchemaFiles(dir)).toThrow(/limits-admit\.sql: not a name/);
	});
});

describe.skipIf(!testDatabaseUrl)('migrations on one PostgreSQL shared by several instances', () => {
	it('run exactly once when instances start at the same moment', async () => {
		const database = await createEmptyPostgresDatabase();
		const handles: DbHandle[] = [];
		try {
			for (let i = 0; i < 4; i++) handles.push(await connectDatabase({ databaseUrl: database.url, poolSize: 2 }));
			const results = await Promise.all(handles.map((handle) => migrate(handle)));
			const appliedCounts = all.map((m) => results.filter((r) => r.applied.includes(m.name)).length);
			expect(appliedCounts).toEqual(all.map(() => 1));
			const definedCounts = definitions.map((d) => results.filter((r) => r.definitions.includes(d.name)).length);
			expect(definedCounts).toEqual(definitions.map(() => 1));
			const rows = await handles[0]!.db.selectFrom('schema_migrations').select('name').execute();
			expect(rows).toHaveLength(all.length);
		} finally {
			for (const handle of handles) await handle.close();
			await database.drop();
		}
	});
});
