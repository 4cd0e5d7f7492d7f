import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { connectDatabase, migrate, readDefinitions, readMigrations, type DbHandle } from '$lib/server/db';
import { createEmptyPostgresDatabase, createTestDatabase, DATABASE_KINDS } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';

const all = readMigrations();
const definitions = readDefinitions();

describe.each(DATABASE_KINDS)('migrations [%s]', (kind) => {
	const skip = kind === 'postgres' && !testDatabaseUrl;
	const cleanups: Array<() => Promise<void>> = [];
	afterAll(async () => {
		for (const cleanup of cleanups) await cleanup();
	});

	it.skipIf(skip)('apply every file once, record it, and do nothing the second time', async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		cleanups.push(database.drop);
		const first = await migrate(database.handle);
		expect(first.applied).toEqual(all.map((m) => m.name));
		expect(first.definitions).toEqual(definitions.map((d) => d.name));
		const second = await migrate(database.handle);
		expect(second).toEqual({ applied: [], alreadyApplied: all.length, definitions: [] });
		const rows = await database.handle.db.selectFrom('schema_migrations').select('name').orderBy('name').execute();
		expect(rows.map((r) => r.name)).toEqual(all.map((m) => m.name));
	});

	it.skipIf(skip)('refuse to run when an applied migration was edited', async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		cleanups.push(database.drop);
		await migrate(database.handle);
		const edited = all.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
		await expect(migrate(database.handle, edited)).rejects.toThrow(/was edited after it was applied/);
	});

	it.skipIf(skip)('apply a changed function definition again, and only that one', async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		cleanups.push(database.drop);
		await migrate(database.handle);
		const changed = definitions.map((d) =>
			d.name === 'limits_release' ? { ...d, sql: d.sql.replace('Idempotent.', 'Idempotent (changed).') } : d
		);
		expect(changed.map((d) => d.sql)).not.toEqual(definitions.map((d) => d.sql));
		const again = await migrate(database.handle, all, changed);
		expect(again).toEqual({ applied: [], alreadyApplied: all.length, definitions: ['limits_release'] });
		expect((await migrate(database.handle, all, changed)).definitions).toEqual([]);
	});

	it.skipIf(skip)('roll back a new migration together with a definition that fails after it', async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		cleanups.push(database.drop);
		await migrate(database.handle);
		const next = { name: '9998_half_of_a_change', sql: 'create table half_done (id int);' };
		const broken = [
			...definitions,
			{
				name: 'zz_broken',
				sql: 'create or replace function zz_broken() returns int language sql as $$ select * from no_such_table $$;'
			}
		];
		await expect(migrate(database.handle, [...all, next], broken)).rejects.toThrow(/definition zz_broken failed/);
		const tables = await sql<{
			n: number;
		}>`select count(*) as n from information_schema.tables where table_name = 'half_done'`.execute(database.handle.db);
		expect(tables.rows[0]?.n).toBe(0);
		const recorded = await database.handle.db.selectFrom('schema_migrations').select('name').execute();
		expect(recorded.map((r) => r.name)).not.toContain(next.name);
	});

	it.skipIf(skip)('roll back a failing migration entirely and record nothing for it', async () => {
		const database = await createTestDatabase(kind, { migrate: false });
		cleanups.push(database.drop);
		const broken = [
			...all,
			{ name: '9999_broken', sql: 'create table half_done (id int);\nselect * from no_such_table;' }
		];
		await expect(migrate(database.handle, broken)).rejects.toThrow(/9999_broken failed/);
		const tables = await sql<{
			n: number;
		}>`select count(*) as n from information_schema.tables where table_name = 'half_done'`.execute(database.handle.db);
		expect(tables.rows[0]?.n).toBe(0);
		const recorded = await database.handle.db.selectFrom('schema_migrations').select('name').execute();
		expect(recorded.map((r) => r.name)).not.toContain('9999_broken');
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
			const rows = await handles[0]!.db.selectFrom('schema_migrations').select('name').execute();
			expect(rows).toHaveLength(all.length);
		} finally {
			for (const handle of handles) await handle.close();
			await database.drop();
		}
	});
});
