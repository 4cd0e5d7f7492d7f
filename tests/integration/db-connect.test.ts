import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementNamer } from '$lib/server/db';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';

describe('statement names', () => {
	it('gives a text the same name every time and different texts different names, up to the bound', () => {
		const nameOf = statementNamer(2);
		const first = nameOf('select $1');
		expect(first).toBeDefined();
		expect(nameOf('select $1')).toBe(first);
		const second = nameOf('select $1, $2');
		expect(second).toBeDefined();
		expect(second).not.toBe(first);
		// The bound is reached: a new text runs unnamed, the named ones keep their names.
		expect(nameOf('select $1, $2, $3')).toBeUndefined();
		expect(nameOf('select $1')).toBe(first);
	});
});

// Only the PostgreSQL pool prepares statements (PGlite is one in-process connection).
describe.skipIf(!testDatabaseUrl)('prepared statements on PostgreSQL', () => {
	let database: TestDatabase;
	beforeAll(async () => {
		database = await createTestDatabase('postgres');
	});
	afterAll(async () => {
		await database?.drop();
	});

	it('prepares a parameterised statement once per connection and answers each call with its own values', async () => {
		const { db } = database.handle;
		const result = await db.transaction().execute(async (trx) => {
			const answers: string[] = [];
			for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
				const row = await trx.selectNoFrom((eb) => eb.val(email).as('email')).executeTakeFirstOrThrow();
				answers.push(row.email);
			}
			// The same connection (a transaction holds one): what it has prepared.
			const prepared = await sql<{ statement: string }>`
				select statement from pg_prepared_statements where statement like 'select $1 as "email"%'`.execute(trx);
			return { answers, prepared: prepared.rows };
		});
		expect(result.answers).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
		expect(result.prepared).toHaveLength(1);
	});

	it('leaves statements without parameters unprepared', async () => {
		const { db } = database.handle;
		const prepared = await db.transaction().execute(async (trx) => {
			await sql`select 42 as answer`.execute(trx);
			return (
				await sql<{
					statement: string;
				}>`select statement from pg_prepared_statements where statement like '%42 as answer%'`.execute(trx)
			).rows;
		});
		expect(prepared).toEqual([]);
	});
});
