import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

	it.skipIf(skip)('roll back a failing migration entirely, with the pending ones before it', async () => {
		const database = await freshDatabase();
		const db = database.handle.db;
		await migrate(database.handle);
		const first = { name: '9998_half_of_a_change', sql: 'create table half_done (id int);' };
		const broken = { name: '9999_broken', sql: 'create table half_done_too (id int);\nselect * from no_such_table;' };
		await expect(
			migrate(database.handle, { migrations: [...all, first, broken], definitions: releaseChanged })
		).rejects.toThrow(/migration 9999_broken failed/);
		expect(await tableExists(db, 'half_done')).toBe(false);
		expect(await tableExists(db, 'half_done_too')).toBe(false);
		const recorded = await db.selectFrom('schema_migrations').select('name').execute();
		expect(recorded.map((r) => r.name)).not.toContain(first.name);
		expect(recorded.map((r) => r.name)).not.toContain(broken.name);
	});

	it.skipIf(skip)('roll back the pending migrations and definitions together when a definition fails', async () => {
		const database = await freshDatabase();
		const db = database.handle.db;
		await migrate(database.handle);
		const next = { name: '9998_half_of_a_change', sql: 'create table half_done (id int);' };
		// Sorts after limits_release, so that one is applied before the failure.
		const broken = {
			name: 'zz_broken',
			sql: 'create function zz_broken() returns int language sql as $$ select * from no_such_table $$;'
		};
		await expect(
			migrate(database.handle, { migrations: [...all, next], definitions: [...releaseChanged, broken] })
		).rejects.toThrow(/definition zz_broken failed/);
		expect(await tableExists(db, 'half_done')).toBe(false);
		expect(await functionSource(db, 'limits_release')).not.toContain('-- changed');
		const migrated = await db.selectFrom('schema_migrations').select('name').execute();
		expect(migrated.map((r) => r.name)).not.toContain(next.name);
		const defined = await db.selectFrom('schema_definitions').select('name').execute();
		expect(defined.map((r) => r.name)).not.toContain(broken.name);
	});

	it.skipIf(skip)('refuse to go on when applied migration files were renamed or removed', async () => {
		const database = await freshDatabase();
		await migrate(database.handle, { migrations: all.slice(0, -1), definitions: [] });
		await sql`insert into schema_migrations (name, checksum) values ('0008_an_old_name', 'x')`.execute(
			database.handle.db
		);
		await expect(migrate(database.handle)).rejects.toThrow(
			`holds migrations these files lack (0008_an_old_name) and lacks some they hold (${all.at(-1)!.name})`
		);
	});
});

describe('migration files', () => {
	const dirs: string[] = [];
	afterAll(() => {
		for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
	});
	const read = (files: Record<string, string>) => {
		const dir = mkdtempSync(join(tmpdir(), 'lk-migrations-'));
		dirs.push(dir);
		for (const [path, text] of Object.entries(files)) {
			mkdirSync(join(dir, path, '..'), { recursive: true });
			writeFileSync(join(dir, path), text);
		}
		return () => readSchemaFiles(dir);
	};

	it('refuses a migration or function file whose name the migrator would not read', () => {
		expect(read({ '0001_first.sql': 'select 1;', 'functions/limits-admit.sql': 'select 1;' })).toThrow(
			/limits-admit\.sql: not a name/
		);
		expect(read({ '1_first.sql': 'select 1;', 'functions/limits_admit.sql': 'select 1;' })).toThrow(
			/1_first\.sql: not a name/
		);
	});

	it('refuses to start without the function files', () => {
		expect(read({ '0001_first.sql': 'select 1;' })).toThrow(/functions \(it ships with the app\)/);
		expect(read({ '0001_first.sql': 'select 1;', 'functions/limits_admit.sql': 'select 2;' })()).toEqual({
			migrations: [{ name: '0001_first', sql: 'select 1;' }],
			definitions: [{ name: 'limits_admit', sql: 'select 2;' }]
		});
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
