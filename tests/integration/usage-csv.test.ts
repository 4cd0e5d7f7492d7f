import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { sql, type Kysely } from 'kysely';
import type { Database, DbHandle } from '$lib/server/db';
import {
	exportUsageCsv,
	insertUsageRecord,
	neutralizeFormula,
	USAGE_CSV_COLUMNS,
	type ExportStrategy,
	type UsageRecord
} from '$lib/server/usage';
import { appErrorFrom } from '../helpers/errors';
import { describeEachDatabase } from '../helpers/db';
import { usageRecord } from '../helpers/usage';

type CsvRow = Record<(typeof USAGE_CSV_COLUMNS)[number], string>;

const JAN = (day: number, hour = 12, minute = 0, ms = 0) => new Date(Date.UTC(2026, 0, day, hour, minute, 0, ms));
// Lower case: the schema keeps emails normalised, but checks nothing else about them.
const EVIL_EMAIL = '=hyperlink("http://x","y")@example.com';

const record = (userId: string, overrides: Partial<UsageRecord> = {}) =>
	usageRecord(userId, { costMicros: 123, ...overrides });

/** Dollars with six decimals back to integer micros, without floating point. */
const micros = (usd: string) => {
	const [whole = '', fraction = ''] = usd.split('.');
	expect(fraction).toHaveLength(6);
	return Number(whole) * 1_000_000 + Number(fraction);
};

describe('CSV cells', () => {
	it('makes every cell a spreadsheet would run as a formula inert', () => {
		for (const cell of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) expect(neutralizeFormula(cell)).toBe(`'${cell}`);
		for (const cell of ['a=1', 'openai/gpt-4o', '', ' =x']) expect(neutralizeFormula(cell)).toBe(cell);
	});
});

describeEachDatabase('usage CSV export', (database) => {
	let handle: DbHandle;
	let db: Kysely<Database>;
	let alice: { id: string; email: string };
	let evil: { id: string; email: string };
	let admin: { id: string; email: string };
	const strategies: ExportStrategy[] = [];

	beforeAll(async () => {
		handle = database().handle;
		db = handle.db;
		strategies.push('keyset');
		if (handle.kind === 'postgres') strategies.push('cursor');
		const insertUser = (email: string, role: 'user' | 'admin' = 'user') =>
			db
				.insertInto('users')
				.values({ email, password_hash: 'not used', role })
				.returning(['id', 'email'])
				.executeTakeFirstOrThrow();
		alice = await insertUser('alice@example.com');
		// Sign-up validates emails; a row written another way must still come out inert.
		evil = await insertUser(EVIL_EMAIL);
		admin = await insertUser('finance-admin@example.com', 'admin');

		const rows: UsageRecord[] = [
			record(alice.id, { requestId: 'req-a1', createdAt: JAN(15), costMicros: 123 }),
			record(alice.id, {
				requestId: 'req-a2',
				provider: 'anthropic',
				model: 'anthropic/claude-sonnet-4',
				servedBy: 'anthropic',
				createdAt: JAN(15, 13),
				costMicros: 2_500_000,
				promptTokens: 1_000,
				completionTokens: 2_000
			}),
			record(alice.id, {
				requestId: 'req-a3',
				keySource: 'app',
				servedBy: 'openrouter',
				createdAt: JAN(20),
				success: false,
				errorCode: 'upstream_error',
				fallbackReason: 'key_rejected',
				costMicros: 0,
				estimated: true
			}),
			record(evil.id, {
				requestId: 'req,"quoted"\nline two',
				model: '+cmd|calc',
				createdAt: JAN(16),
				costMicros: 42
			}),
			record(evil.id, {
				requestId: 'req-e2',
				model: '-2+3',
				errorCode: '@SUM(A1)',
				success: false,
				createdAt: JAN(17)
			}),
			record(evil.id, { requestId: 'req-e3', model: 'model, with "comma"', errorCode: '\tTAB', createdAt: JAN(18) }),
			// Outside January.
			record(alice.id, { requestId: 'req-dec', createdAt: new Date(Date.UTC(2025, 11, 31, 23, 59, 59, 999)) }),
			record(alice.id, { requestId: 'req-feb', createdAt: new Date(Date.UTC(2026, 1, 1)) })
		];
		// Several requests in the same millisecond (and microsecond): keyset pages must neither skip
		// nor repeat any of them.
		for (let i = 0; i < 7; i++)
			rows.push(record(alice.id, { requestId: `req-same-${i}`, createdAt: JAN(25), costMicros: i }));
		for (const row of rows) await insertUsageRecord(db, row);
		// Microseconds a JavaScript Date cannot hold.
		await sql`update usage_records set created_at = created_at + interval '250 microseconds' where request_id like 'req-same-%' and (id % 2) = 0`.execute(
			db
		);
	});

	async function exportCsv(query: Record<string, unknown>, strategy?: ExportStrategy) {
		const result = await exportUsageCsv(handle, { userId: admin.id, ip: '192.0.2.1' }, query, {
			strategy,
			batchSize: 3
		});
		const text = await new Response(result.body).text();
		const rows: CsvRow[] = parse(text, { columns: true, record_delimiter: '\r\n' });
		return { text, rows, filename: result.filename };
	}

	async function tableTotals(where: { from: Date; to: Date; userId?: string; provider?: string }) {
		let query = db
			.selectFrom('usage_records')
			.select([
				sql<number>`count(*)`.as('rows'),
				sql<number>`coalesce(sum(cost_micros), 0)::bigint`.as('cost'),
				sql<number>`coalesce(sum(prompt_tokens), 0)::bigint`.as('prompt'),
				sql<number>`coalesce(sum(completion_tokens), 0)::bigint`.as('completion')
			])
			.where('created_at', '>=', where.from)
			.where('created_at', '<', where.to);
		if (where.userId) query = query.where('user_id', '=', where.userId);
		if (where.provider) query = query.where('provider', '=', where.provider as 'openai');
		return query.executeTakeFirstOrThrow();
	}

	const sums = (rows: CsvRow[]) => ({
		rows: rows.length,
		cost: rows.reduce((n, r) => n + micros(r.cost_usd), 0),
		prompt: rows.reduce((n, r) => n + Number(r.prompt_tokens), 0),
		completion: rows.reduce((n, r) => n + Number(r.completion_tokens), 0)
	});

	it('exports a period whose rows, tokens and cost sum to exactly what the usage table holds', async () => {
		for (const strategy of strategies) {
			const { rows, filename } = await exportCsv({ from: '2026-01-01', to: '2026-01-31' }, strategy);
			expect(filename).toBe('latchkey-usage-2026-01-01-2026-01-31.csv');
			expect(sums(rows)).toEqual(await tableTotals({ from: JAN(1, 0), to: new Date(Date.UTC(2026, 1, 1)) }));
			expect(rows).toHaveLength(13);
			// Every request once, in time order.
			expect(new Set(rows.map((r) => r.request_id)).size).toBe(13);
			const times = rows.map((r) => r.timestamp);
			expect([...times].sort()).toEqual(times);
		}
	});

	it('writes the header, UTC ISO-8601 timestamps, exact dollars and plain booleans', async () => {
		const { text, rows } = await exportCsv({ from: '2026-01-15', to: '2026-01-15', user: 'alice@example.com' });
		expect(text.split('\r\n')[0]).toBe(USAGE_CSV_COLUMNS.join(','));
		expect(rows).toEqual([
			{
				timestamp: '2026-01-15T12:00:00.000Z',
				request_id: 'req-a1',
				user_email: 'alice@example.com',
				provider: 'openai',
				model: 'openai/gpt-4o-mini',
				key_source: 'user',
				prompt_tokens: '100',
				completion_tokens: '50',
				cached_read_tokens: '0',
				cache_write_tokens: '0',
				reasoning_tokens: '0',
				cost_usd: '0.000123',
				success: 'true',
				error_code: '',
				estimated: 'false',
				cost_known: 'true'
			},
			expect.objectContaining({ timestamp: '2026-01-15T13:00:00.000Z', cost_usd: '2.500000', provider: 'anthropic' })
		]);
	});

	it('writes the kinds of tokens, and leaves the cost empty (not $0) when the price was unknown', async () => {
		const kinds = record(alice.id, {
			requestId: 'req-kinds',
			promptTokens: 1000,
			cachedReadTokens: 800,
			cacheWriteTokens: 100,
			completionTokens: 300,
			reasoningTokens: 200,
			costMicros: 0,
			costKnown: false,
			createdAt: new Date(Date.UTC(2026, 2, 10, 12))
		});
		await insertUsageRecord(db, kinds);
		const { rows } = await exportCsv({ from: '2026-03-10', to: '2026-03-10' });
		await db.deleteFrom('usage_records').where('request_id', '=', 'req-kinds').execute();
		expect(rows).toEqual([
			expect.objectContaining({
				request_id: 'req-kinds',
				prompt_tokens: '1000',
				cached_read_tokens: '800',
				cache_write_tokens: '100',
				completion_tokens: '300',
				reasoning_tokens: '200',
				cost_usd: '',
				cost_known: 'false'
			})
		]);
	});

	it('filters by date-time, user (email or id) and provider', async () => {
		const byTime = await exportCsv({ from: '2026-01-15T12:30:00Z', to: '2026-01-20T12:00:00Z' });
		expect(byTime.rows.map((r) => r.request_id)).toEqual(['req-a2', 'req,"quoted"\nline two', 'req-e2', 'req-e3']);
		expect(byTime.filename).toBe('latchkey-usage-2026-01-15T123000Z-2026-01-20T120000Z.csv');

		const byId = await exportCsv({ from: '2026-01-01', to: '2026-01-31', user: alice.id });
		expect(new Set(byId.rows.map((r) => r.user_email))).toEqual(new Set(['alice@example.com']));
		expect(sums(byId.rows)).toEqual(
			await tableTotals({ from: JAN(1, 0), to: new Date(Date.UTC(2026, 1, 1)), userId: alice.id })
		);

		const byProvider = await exportCsv({ from: '2026-01-01', to: '2026-01-31', provider: 'anthropic' });
		expect(byProvider.rows.map((r) => r.request_id)).toEqual(['req-a2']);

		const both = await exportCsv({
			from: '2026-01-01',
			to: '2026-01-31',
			user: 'ALICE@example.com',
			provider: 'google'
		});
		expect(both.rows).toEqual([]);
		expect(both.text).toBe(`${USAGE_CSV_COLUMNS.join(',')}\r\n`);

		// A whole-day `to` includes that day; the last instant of December and February stay out.
		const edges = await exportCsv({ from: '2026-01-01', to: '2026-01-31', user: alice.id });
		expect(edges.rows.map((r) => r.request_id)).not.toContain('req-dec');
		expect(edges.rows.map((r) => r.request_id)).not.toContain('req-feb');
	});

	it('neutralises formula cells and escapes quotes, commas and line breaks (RFC 4180)', async () => {
		const { text, rows } = await exportCsv({ from: '2026-01-01', to: '2026-01-31', user: evil.id });
		expect(rows.map((r) => [r.request_id, r.user_email, r.model, r.error_code])).toEqual([
			['req,"quoted"\nline two', `'${EVIL_EMAIL}`, "'+cmd|calc", ''],
			['req-e2', `'${EVIL_EMAIL}`, "'-2+3", "'@SUM(A1)"],
			['req-e3', `'${EVIL_EMAIL}`, 'model, with "comma"', "'\tTAB"]
		]);
		expect(text).toContain(`"req,""quoted""\nline two","'=hyperlink(""http://x"",""y"")@example.com"`);
		expect(text).toContain(',"model, with ""comma""",');
		// Records end in CRLF; the only bare LF is the one inside the quoted request id.
		expect(text.endsWith('\r\n')).toBe(true);
		expect(text.replace(/\r\n/g, '').match(/\n/g)).toHaveLength(1);
		// No cell starts a formula once parsed.
		for (const row of rows) for (const cell of Object.values(row)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
	});

	it('audits each export with who, the filters and the rows sent, and an abandoned one as incomplete', async () => {
		const before = await db.selectFrom('audit_log').select('id').orderBy('id', 'desc').executeTakeFirst();
		const { rows } = await exportCsv({ from: '2026-01-01', to: '2026-01-31', provider: 'openai', user: alice.email });
		const finished = await db
			.selectFrom('audit_log')
			.selectAll()
			.where('action', '=', 'usage.export')
			.where('id', '>', before?.id ?? 0)
			.execute();
		expect(finished).toHaveLength(1);
		expect(finished[0]).toMatchObject({
			actor_user_id: admin.id,
			subject_user_id: alice.id,
			provider: 'openai',
			ip: '192.0.2.1',
			details: {
				from: '2026-01-01T00:00:00.000Z',
				to: '2026-02-01T00:00:00.000Z',
				user: 'alice@example.com',
				rows: rows.length,
				completed: true,
				outcome: 'completed'
			}
		});

		// The client reads the header and one batch, then goes away.
		const result = await exportUsageCsv(
			handle,
			{ userId: admin.id, ip: null },
			{ from: '2026-01-01', to: '2026-01-31' },
			{
				batchSize: 3
			}
		);
		const reader = result.body.getReader();
		await reader.read();
		await reader.read();
		await reader.cancel();
		const abandoned = await db
			.selectFrom('audit_log')
			.selectAll()
			.where('action', '=', 'usage.export')
			.orderBy('id', 'desc')
			.executeTakeFirstOrThrow();
		expect(abandoned.details).toMatchObject({ completed: false, outcome: 'cancelled', rows: 3, user: null });
		// The connection came back: the database still answers promptly.
		expect((await tableTotals({ from: JAN(1, 0), to: JAN(31, 0) })).rows).toBeGreaterThan(0);
	});

	it.each([
		[{ from: '2026-02-30' }, 'from must be a date like 2026-01-31 or a UTC date-time like 2026-01-31T12:00:00Z.'],
		[{ from: 'last tuesday' }, 'from must be a date like 2026-01-31 or a UTC date-time like 2026-01-31T12:00:00Z.'],
		[{ to: '2026-01-15T25:00:00Z' }, 'to must be a date like 2026-01-31 or a UTC date-time like 2026-01-31T12:00:00Z.'],
		[{ from: '2026-01-20', to: '2026-01-10' }, 'to must be after from.'],
		[{ from: '2026-01-15T12:00:00Z', to: '2026-01-15T12:00:00Z' }, 'to must be after from.'],
		[{ from: '2025-01-01', to: '2026-06-30' }, 'The period can be at most 366 days; export a longer period in parts.'],
		[{ provider: 'mistral' }, 'provider must be one of openai, anthropic, google, openrouter.'],
		[{ user: 'bob' }, 'user must be an email address or a user id.'],
		[{ user: 'nobody@example.com' }, 'No user has the email nobody@example.com.']
	])('refuses %j with a clear 400', async (query, message) => {
		const error = await appErrorFrom(exportUsageCsv(handle, { userId: admin.id, ip: null }, query));
		expect(error.status).toBe(400);
		expect(error.message).toBe(message);
	});
});
