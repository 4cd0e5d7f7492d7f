import { sql, type Kysely } from 'kysely';
import type { Database, KeySource, ProviderName } from '$lib/server/db';

export interface UsageTotals {
	provider: ProviderName;
	keySource: KeySource;
	requests: number;
	failedRequests: number;
	promptTokens: number;
	completionTokens: number;
	costMicros: number;
}

/** The sums every usage aggregate reports (sums cast to bigint: they arrive as numbers). */
const TOTALS = [
	sql<number>`count(*)`.as('requests'),
	sql<number>`count(*) filter (where not success)`.as('failed'),
	sql<number>`coalesce(sum(prompt_tokens), 0)::bigint`.as('prompt_tokens'),
	sql<number>`coalesce(sum(completion_tokens), 0)::bigint`.as('completion_tokens'),
	sql<number>`coalesce(sum(cost_micros), 0)::bigint`.as('cost_micros')
] as const;

type TotalsRow = { provider: ProviderName; key_source: KeySource; requests: number; failed: number } & {
	prompt_tokens: number;
	completion_tokens: number;
	cost_micros: number;
};

const totalsOf = (row: TotalsRow): UsageTotals => ({
	provider: row.provider,
	keySource: row.key_source,
	requests: row.requests,
	failedRequests: row.failed,
	promptTokens: row.prompt_tokens,
	completionTokens: row.completion_tokens,
	costMicros: row.cost_micros
});

export interface UsageRange {
	from: Date;
	to: Date;
}

/** Totals per provider and key source for one user in [from, to). */
export async function summarizeUsage(db: Kysely<Database>, userId: string, range: UsageRange): Promise<UsageTotals[]> {
	const rows = await db
		.selectFrom('usage_records')
		.select(['provider', 'key_source', ...TOTALS])
		.where('user_id', '=', userId)
		.where('created_at', '>=', range.from)
		.where('created_at', '<', range.to)
		.groupBy(['provider', 'key_source'])
		.orderBy('provider')
		.orderBy('key_source')
		.execute();
	return rows.map(totalsOf);
}

export interface DailyUsage extends UsageTotals {
	/** UTC day, YYYY-MM-DD. */
	day: string;
}

/** Per UTC day, provider and key source, for charts. */
export async function dailyUsage(
	db: Kysely<Database>,
	userId: string | null,
	range: UsageRange
): Promise<DailyUsage[]> {
	let query = db
		.selectFrom('usage_records')
		.select([
			sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD')`.as('day'),
			'provider',
			'key_source',
			...TOTALS
		])
		.where('created_at', '>=', range.from)
		.where('created_at', '<', range.to);
	if (userId) query = query.where('user_id', '=', userId);
	const rows = await query
		.groupBy([sql`1`, 'provider', 'key_source'])
		.orderBy(sql`1`)
		.orderBy('provider')
		.orderBy('key_source')
		.execute();
	return rows.map((row) => ({ day: row.day, ...totalsOf(row) }));
}

export interface ModelUsage {
	provider: ProviderName;
	model: string;
	keySource: KeySource;
	requests: number;
	/** Requests whose price was unknown: recorded with their tokens, their cost is not in `costMicros`. */
	unpricedRequests: number;
	promptTokens: number;
	completionTokens: number;
	costMicros: number;
}

export async function usageByModel(db: Kysely<Database>, userId: string, range: UsageRange): Promise<ModelUsage[]> {
	const rows = await db
		.selectFrom('usage_records')
		.select([
			'provider',
			'model',
			'key_source',
			...TOTALS,
			sql<number>`count(*) filter (where not cost_known)`.as('unpriced')
		])
		.where('user_id', '=', userId)
		.where('created_at', '>=', range.from)
		.where('created_at', '<', range.to)
		.groupBy(['provider', 'model', 'key_source'])
		.orderBy(sql`coalesce(sum(cost_micros), 0)`, 'desc')
		.execute();
	return rows.map((row) => ({
		provider: row.provider,
		model: row.model,
		keySource: row.key_source,
		requests: row.requests,
		unpricedRequests: row.unpriced,
		promptTokens: row.prompt_tokens,
		completionTokens: row.completion_tokens,
		costMicros: row.cost_micros
	}));
}

/** The first instant of the current UTC month. */
export function startOfUtcMonth(now = new Date()): Date {
	return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

export function startOfUtcDay(now = new Date()): Date {
	return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** Each of the user's keys' requests and cost since `from` (own-key requests name their key). */
export async function usageByKey(
	db: Kysely<Database>,
	userId: string,
	from: Date
): Promise<Map<string, { requests: number; costMicros: number }>> {
	const rows = await db
		.selectFrom('usage_records')
		.select([
			'key_id',
			sql<number>`count(*)`.as('requests'),
			sql<number>`coalesce(sum(cost_micros), 0)::bigint`.as('cost')
		])
		.where('user_id', '=', userId)
		.where('key_id', 'is not', null)
		.where('created_at', '>=', from)
		.groupBy('key_id')
		.execute();
	return new Map(
		rows.map((row) => [row.key_id as string, { requests: Number(row.requests), costMicros: Number(row.cost) }])
	);
}
