import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { providers, type Provider } from '$lib/server/config';
import type { Database, DatabaseKind } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { resolveUtcRange, utcRangeFields, type RangeOptions, type UtcRange } from '$lib/server/utc-range';
import { parseInput, userText } from '$lib/server/validation';

/** Longest period one export may cover; longer ones are exported in parts. */
export const MAX_EXPORT_DAYS = 366;
export const DEFAULT_EXPORT_DAYS = 30;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Query parameters of `GET /api/admin/usage.csv`; empty form fields count as missing. */
export const usageExportQuery = z.object({
	...utcRangeFields,
	user: userText(z.string({ invalid_type_error: 'user must be an email address or a user id.' }), 'user')
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
	const range = resolveUtcRange(parsed, {
		maxDays: MAX_EXPORT_DAYS,
		defaultDays: DEFAULT_EXPORT_DAYS,
		tooLongAdvice: 'export a longer period in parts',
		...options
	});
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

export interface ExportRow {
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
	cached_read_tokens: number;
	cache_write_tokens: number;
	reasoning_tokens: number;
	cost_micros: number;
	success: boolean;
	error_code: string | null;
	estimated: boolean;
	cost_known: boolean;
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
			'r.cached_read_tokens',
			'r.cache_write_tokens',
			'r.reasoning_tokens',
			'r.cost_micros',
			'r.success',
			'r.error_code',
			'r.estimated',
			'r.cost_known'
		])
		.where('r.created_at', '>=', filters.from)
		.where('r.created_at', '<', filters.to);
	if (filters.userId) query = query.where('r.user_id', '=', filters.userId);
	if (filters.provider) query = query.where('r.provider', '=', filters.provider);
	return query.orderBy('r.created_at').orderBy('r.id');
}

/**
 * `cursor`: one query through a server-side cursor (PostgreSQL; holds a connection for the whole
 * download). `keyset`: short queries by (created_at, id) pages (PGlite, whose driver buffers a cursor).
 */
export type ExportStrategy = 'cursor' | 'keyset';

export function defaultExportStrategy(kind: DatabaseKind): ExportStrategy {
	return kind === 'postgres' ? 'cursor' : 'keyset';
}

/** The export's rows in batches of `size`, read only as the consumer asks for the next one. */
export function exportBatches(
	db: Kysely<Database>,
	filters: UsageExportFilters,
	strategy: ExportStrategy,
	size: number
): AsyncGenerator<ExportRow[]> {
	return strategy === 'cursor' ? cursorBatches(db, filters, size) : keysetBatches(db, filters, size);
}

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
