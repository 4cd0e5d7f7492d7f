import { sql, type Kysely } from 'kysely';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { formatUsdExact } from '$lib/money';
import { providers, type Provider } from '$lib/server/config';
import type { Database, DatabaseKind } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { AppError } from '$lib/server/errors';
import type { Logger } from '$lib/server/log';
import { parseInput } from '$lib/server/validation';

/**
 * Usage as CSV for finance (`GET /api/admin/usage.csv`): RFC 4180 (CRLF, quotes doubled), UTC
 * ISO-8601 timestamps, cost as exact dollars with six decimals (`formatUsdExact`),
 * text cells that a spreadsheet would run as a formula neutralised with a leading `'`.
 *
 * Streamed with constant memory: rows come from the database in batches (a server-side cursor on
 * PostgreSQL, keyset pages on PGlite, whose driver has no cursor), each batch goes through
 * `csv-stringify` into a pull-based `ReadableStream`, so the next batch is read only when the
 * client has taken the previous one.
 */

export const USAGE_CSV_COLUMNS = [
	'timestamp',
	'request_id',
	'user_email',
	'provider',
	'model',
	'key_source',
	'prompt_tokens',
	'completion_tokens',
	'cost_usd',
	'success',
	'error_code',
	'estimated'
] as const;

const DAY_MS = 86_400_000;
/** Longest period one export may cover; longer ones are exported in parts. */
export const MAX_EXPORT_DAYS = 366;
export const DEFAULT_EXPORT_DAYS = 30;
/**
 * Rows per database read. Measured on 1M rows (bench/export.ts): 500 keeps the V8 heap's peak
 * near 35 MiB; 1,000 and more let it reach 75-95 MiB (batches live long enough to be promoted)
 * for no gain in speed.
 */
export const DEFAULT_EXPORT_BATCH_SIZE = 500;

// ---- dates and ranges ------------------------------------------------------------------------------

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const MIN_YEAR = 2000;
const MAX_YEAR = 9999;

interface DateBound {
	at: Date;
	/** A plain date (YYYY-MM-DD) means the whole day: as `to` it includes that day. */
	dateOnly: boolean;
}

function isCalendarDate(year: string, month: string, day: string): boolean {
	const y = Number(year);
	const m = Number(month);
	const d = Number(day);
	const date = new Date(Date.UTC(y, m - 1, d));
	return (
		y >= MIN_YEAR &&
		y <= MAX_YEAR &&
		date.getUTCFullYear() === y &&
		date.getUTCMonth() === m - 1 &&
		date.getUTCDate() === d
	);
}

/** A date (`2026-01-31`) or a date-time (`2026-01-31T12:00:00Z`; no zone means UTC), or a Date. */
function dateBound(field: 'from' | 'to') {
	const message = `${field} must be a date like 2026-01-31 or a UTC date-time like 2026-01-31T12:00:00Z.`;
	return z
		.union([z.date(), z.string()], { errorMap: () => ({ message }) })
		.optional()
		.transform((value, ctx): DateBound | undefined => {
			if (value === undefined) return undefined;
			if (value instanceof Date) {
				if (Number.isNaN(value.getTime())) {
					ctx.addIssue({ code: z.ZodIssueCode.custom, message });
					return z.NEVER;
				}
				return { at: value, dateOnly: false };
			}
			const text = value.trim();
			if (text === '') return undefined;
			const dateOnly = DATE_ONLY.exec(text);
			const dateTime = dateOnly ? null : DATE_TIME.exec(text);
			const parts = dateOnly ?? dateTime;
			if (!parts || !isCalendarDate(parts[1]!, parts[2]!, parts[3]!)) {
				ctx.addIssue({ code: z.ZodIssueCode.custom, message });
				return z.NEVER;
			}
			const zoned = dateOnly ? `${text}T00:00:00Z` : /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
			const at = new Date(zoned);
			if (Number.isNaN(at.getTime())) {
				ctx.addIssue({ code: z.ZodIssueCode.custom, message });
				return z.NEVER;
			}
			return { at, dateOnly: Boolean(dateOnly) };
		});
}

export interface UtcRange {
	/** Inclusive. */
	from: Date;
	/** Exclusive: a plain date given as `to` becomes the next midnight, so that day is included. */
	to: Date;
}

export interface RangeOptions {
	/** When `from` is missing: this many days before `to`. */
	defaultDays?: number;
	maxDays?: number;
	now?: Date;
	/** Ends the "too long" message, e.g. "export a longer period in parts". */
	tooLongAdvice?: string;
}

const rangeFields = { from: dateBound('from'), to: dateBound('to') };

/** Validates `{from, to}` (strings or Dates; either may be missing) into a half-open UTC range. */
export function parseUtcRange(input: { from?: unknown; to?: unknown }, options: RangeOptions = {}): UtcRange {
	const parsed = parseInput(z.object(rangeFields), { from: input.from, to: input.to });
	return resolveRange(parsed, options);
}

/**
 * One optional bound (`from`, or `to` where a plain date includes that whole day), for filters
 * that need no default period.
 */
export function parseUtcBound(value: unknown, field: 'from' | 'to'): Date | undefined {
	const bound = parseInput(z.object({ [field]: dateBound(field) }), { [field]: value })[field];
	if (!bound) return undefined;
	return field === 'to' && bound.dateOnly ? new Date(bound.at.getTime() + DAY_MS) : bound.at;
}

function resolveRange(bounds: { from?: DateBound; to?: DateBound }, options: RangeOptions): UtcRange {
	const maxDays = options.maxDays ?? MAX_EXPORT_DAYS;
	const defaultDays = options.defaultDays ?? DEFAULT_EXPORT_DAYS;
	const now = options.now ?? new Date();
	const endOfToday = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + DAY_MS);
	const to = bounds.to ? (bounds.to.dateOnly ? new Date(bounds.to.at.getTime() + DAY_MS) : bounds.to.at) : endOfToday;
	const from = bounds.from ? bounds.from.at : new Date(to.getTime() - defaultDays * DAY_MS);
	if (to.getTime() <= from.getTime()) {
		throw new AppError('bad_request', 'to must be after from.', {
			reason: 'invalid_range',
			details: { field: 'to' }
		});
	}
	if (to.getTime() - from.getTime() > maxDays * DAY_MS) {
		throw new AppError(
			'bad_request',
			`The period can be at most ${maxDays} days; ${options.tooLongAdvice ?? 'choose a shorter one'}.`,
			{
				reason: 'invalid_range',
				details: { field: 'from' }
			}
		);
	}
	return { from, to };
}

// ---- the export query ------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Query parameters of `GET /api/admin/usage.csv`; empty form fields count as missing. */
export const usageExportQuery = z.object({
	...rangeFields,
	user: z
		.string({ invalid_type_error: 'user must be an email address or a user id.' })
		.trim()
		.max(320, 'user must be an email address or a user id.')
		.refine((v) => v === '' || UUID.test(v) || v.includes('@'), 'user must be an email address or a user id.')
		.optional()
		.transform((v) => (v ? v : undefined)),
	provider: z
		.union([z.enum(providers as [Provider, ...Provider[]]), z.literal('')], {
			errorMap: () => ({ message: `provider must be one of ${providers.join(', ')}.` })
		})
		.optional()
		.transform((v) => (v ? v : undefined))
});

export interface UsageExportFilters extends UtcRange {
	userId?: string;
	/** The user's email, for the audit entry and the file name. */
	userEmail?: string;
	provider?: Provider;
}

/** Parses and resolves the query (an unknown user is a 400 naming it). */
export async function resolveUsageExport(
	db: Kysely<Database>,
	query: Record<string, unknown>,
	options: RangeOptions = {}
): Promise<UsageExportFilters> {
	const parsed = parseInput(usageExportQuery, query);
	const range = resolveRange(parsed, { tooLongAdvice: 'export a longer period in parts', ...options });
	const filters: UsageExportFilters = { ...range, provider: parsed.provider };
	if (parsed.user) {
		const user = UUID.test(parsed.user)
			? await db.selectFrom('users').select(['id', 'email']).where('id', '=', parsed.user).executeTakeFirst()
			: await db
					.selectFrom('users')
					.select(['id', 'email'])
					.where('email', 'in', [parsed.user, parsed.user.toLowerCase()])
					.executeTakeFirst();
		if (!user) {
			throw new AppError('bad_request', `No user has the ${UUID.test(parsed.user) ? 'id' : 'email'} ${parsed.user}.`, {
				reason: 'unknown_user',
				details: { field: 'user' }
			});
		}
		filters.userId = user.id;
		filters.userEmail = user.email;
	}
	return filters;
}

/** `latchkey-usage-<from>-<to>.csv`; whole days by date, otherwise compact UTC date-times. */
export function usageCsvFilename(range: UtcRange): string {
	const label = (date: Date) => {
		const iso = date.toISOString();
		return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace(/:/g, '').replace(/\.\d{3}/, '');
	};
	const lastDay = new Date(range.to.getTime() - DAY_MS);
	const toLabel = range.to.toISOString().endsWith('T00:00:00.000Z') ? label(lastDay) : label(range.to);
	return `latchkey-usage-${label(range.from)}-${toLabel}.csv`;
}

interface ExportRow {
	/** Millisecond UTC ISO-8601, made by the database (no Date objects per row). */
	at: string;
	/** Microsecond precision, for the keyset position (a Date would round it to milliseconds). */
	position: string;
	id: number;
	request_id: string;
	email: string;
	provider: string;
	model: string;
	key_source: string;
	prompt_tokens: number;
	completion_tokens: number;
	cost_micros: number;
	success: boolean;
	error_code: string | null;
	estimated: boolean;
}

function exportQuery(db: Kysely<Database>, filters: UsageExportFilters) {
	let query = db
		.selectFrom('usage_records as r')
		.innerJoin('users as u', 'u.id', 'r.user_id')
		.select([
			sql<string>`to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`.as('at'),
			sql<string>`to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('position'),
			'r.id',
			'r.request_id',
			'u.email',
			'r.provider',
			'r.model',
			'r.key_source',
			'r.prompt_tokens',
			'r.completion_tokens',
			'r.cost_micros',
			'r.success',
			'r.error_code',
			'r.estimated'
		])
		.where('r.created_at', '>=', filters.from)
		.where('r.created_at', '<', filters.to);
	if (filters.userId) query = query.where('r.user_id', '=', filters.userId);
	if (filters.provider) query = query.where('r.provider', '=', filters.provider);
	return query.orderBy('r.created_at').orderBy('r.id');
}

/**
 * `cursor`: one query read through a server-side cursor (PostgreSQL only; holds one pooled
 * connection for the whole download). `keyset`: pages of `batchSize` ordered by (created_at, id),
 * each a short query, so nothing is held between pages (PGlite, whose driver would buffer a cursor).
 */
export type ExportStrategy = 'cursor' | 'keyset';

async function* cursorBatches(db: Kysely<Database>, filters: UsageExportFilters, size: number) {
	let batch: ExportRow[] = [];
	// Leaving this loop early (client gone) closes the cursor and returns the connection.
	for await (const row of exportQuery(db, filters).stream(size)) {
		batch.push(row);
		if (batch.length >= size) {
			yield batch;
			batch = [];
		}
	}
	if (batch.length > 0) yield batch;
}

async function* keysetBatches(db: Kysely<Database>, filters: UsageExportFilters, size: number) {
	let after: { position: string; id: number } | undefined;
	for (;;) {
		let query = exportQuery(db, filters);
		if (after) {
			const { position, id } = after;
			query = query.where(sql<boolean>`(r.created_at, r.id) > (${position}::timestamptz, ${id}::bigint)`);
		}
		const rows: ExportRow[] = await query.limit(size).execute();
		if (rows.length > 0) yield rows;
		const last = rows[rows.length - 1];
		if (!last || rows.length < size) return;
		after = { position: last.position, id: last.id };
	}
}

// ---- cells -----------------------------------------------------------------------------------------

const FORMULA_START = /^[=+\-@\t\r]/;

/** A spreadsheet runs a cell starting with = + - @ (or tab, CR) as a formula: make it text. */
export function neutralizeFormula(cell: string): string {
	return FORMULA_START.test(cell) ? `'${cell}` : cell;
}

function csvRecord(row: ExportRow): string[] {
	return [
		row.at,
		neutralizeFormula(row.request_id),
		neutralizeFormula(row.email),
		neutralizeFormula(row.provider),
		neutralizeFormula(row.model),
		neutralizeFormula(row.key_source),
		String(row.prompt_tokens),
		String(row.completion_tokens),
		formatUsdExact(row.cost_micros),
		row.success ? 'true' : 'false',
		row.error_code === null ? '' : neutralizeFormula(row.error_code),
		row.estimated ? 'true' : 'false'
	];
}

// RFC 4180: CRLF between records; a cell with a comma, quote, CR or LF is quoted (csv-stringify
// quotes CR/LF only when told, since neither alone is its record delimiter here).
const CSV_OPTIONS = { record_delimiter: 'windows', quoted_match: /[\r\n]/ } as const;

// ---- the stream -----------------------------------------------------------------------------------

export interface UsageCsvProgress {
	/** Data rows handed to the client so far (the header excluded). */
	rows: number;
	bytes: number;
}

export interface UsageCsvStreamOptions {
	strategy?: ExportStrategy;
	batchSize?: number;
	/**
	 * Runs once every row has been read, before the last batch is released: if it throws (say, the
	 * audit entry could not be written) the download fails instead of completing.
	 */
	beforeComplete?: (progress: UsageCsvProgress) => Promise<void>;
	/** The client went away or reading failed; `progress` says how far it got. */
	onAbort?: (progress: UsageCsvProgress, reason: 'cancelled' | 'failed', error?: unknown) => Promise<void> | void;
}

export function defaultExportStrategy(kind: DatabaseKind): ExportStrategy {
	return kind === 'postgres' ? 'cursor' : 'keyset';
}

/**
 * The CSV as a pull-based byte stream: a batch is read from the database only when the consumer
 * asks for more, so memory holds about two batches however many rows there are.
 */
export function usageCsvStream(
	source: { db: Kysely<Database>; kind: DatabaseKind },
	filters: UsageExportFilters,
	options: UsageCsvStreamOptions = {}
): ReadableStream<Uint8Array> {
	const strategy = options.strategy ?? defaultExportStrategy(source.kind);
	if (strategy === 'cursor' && source.kind !== 'postgres') throw new Error('cursor export needs PostgreSQL');
	const size = options.batchSize ?? DEFAULT_EXPORT_BATCH_SIZE;
	const batches =
		strategy === 'cursor' ? cursorBatches(source.db, filters, size) : keysetBatches(source.db, filters, size);
	const encoder = new TextEncoder();
	const progress: UsageCsvProgress = { rows: 0, bytes: 0 };
	// One chunk is held back until the next is read, so the final rows leave only after
	// `beforeComplete` succeeded.
	let held: { bytes: Uint8Array; rows: number } | undefined = {
		bytes: encoder.encode(stringify([[...USAGE_CSV_COLUMNS]], CSV_OPTIONS)),
		rows: 0
	};
	let finished = false;
	const release = (controller: ReadableStreamDefaultController<Uint8Array>) => {
		if (!held) return;
		controller.enqueue(held.bytes);
		progress.rows += held.rows;
		progress.bytes += held.bytes.byteLength;
		held = undefined;
	};

	return new ReadableStream<Uint8Array>(
		{
			async pull(controller) {
				try {
					const next = await batches.next();
					// The client left while this batch was read; `cancel` has cleaned up.
					if (finished) return;
					if (next.done) {
						await options.beforeComplete?.({
							rows: progress.rows + (held?.rows ?? 0),
							bytes: progress.bytes + (held?.bytes.byteLength ?? 0)
						});
						finished = true;
						release(controller);
						controller.close();
						return;
					}
					const chunk = {
						bytes: encoder.encode(stringify(next.value.map(csvRecord), CSV_OPTIONS)),
						rows: next.value.length
					};
					release(controller);
					held = chunk;
				} catch (error) {
					if (finished) return;
					finished = true;
					await batches.return(undefined).catch(() => {});
					await options.onAbort?.(progress, 'failed', error);
					throw error;
				}
			},
			async cancel() {
				if (finished) return;
				finished = true;
				await batches.return(undefined).catch(() => {});
				await options.onAbort?.(progress, 'cancelled');
			}
		},
		// Nothing is read ahead: the next batch is fetched when the client took the last one.
		{ highWaterMark: 0 }
	);
}

// ---- the audited export -----------------------------------------------------------------------------

export interface UsageExportDeps {
	db: Kysely<Database>;
	kind: DatabaseKind;
	log?: Logger;
}

export interface UsageExportActor {
	userId: string;
	ip: string | null;
}

export interface UsageExport {
	filename: string;
	filters: UsageExportFilters;
	body: ReadableStream<Uint8Array>;
}

/**
 * Validates the query and returns the CSV stream. Each export writes one `usage.export` audit
 * entry with the filters and the rows sent: when complete, before its last rows leave (no audit,
 * no complete file); when the client stops or reading fails, with how far it got.
 */
export async function exportUsageCsv(
	deps: UsageExportDeps,
	actor: UsageExportActor,
	query: Record<string, unknown>,
	options: { strategy?: ExportStrategy; batchSize?: number; now?: Date } = {}
): Promise<UsageExport> {
	const filters = await resolveUsageExport(deps.db, query, { now: options.now });
	const audit = (progress: UsageCsvProgress, completed: boolean, outcome: string) =>
		recordAudit(deps.db, {
			action: 'usage.export',
			actorUserId: actor.userId,
			subjectUserId: filters.userId ?? null,
			provider: filters.provider ?? null,
			ip: actor.ip,
			details: {
				from: filters.from.toISOString(),
				to: filters.to.toISOString(),
				user: filters.userEmail ?? null,
				rows: progress.rows,
				bytes: progress.bytes,
				completed,
				outcome
			}
		});
	const body = usageCsvStream(deps, filters, {
		strategy: options.strategy,
		batchSize: options.batchSize,
		beforeComplete: (progress) => audit(progress, true, 'completed'),
		onAbort: async (progress, reason, error) => {
			if (reason === 'failed') deps.log?.error({ err: error }, 'usage export failed');
			await audit(progress, false, reason).catch((auditError: unknown) =>
				deps.log?.error({ err: auditError }, 'usage export audit entry could not be written')
			);
		}
	});
	return { filename: usageCsvFilename(filters), filters, body };
}
