import type { Kysely } from 'kysely';
import type { Database, KeySource, ProviderName } from '$lib/server/db';

/** What one chat request cost and how it ended; exactly one per request id. */
export interface UsageRecord {
	requestId: string;
	userId: string;
	/** The access token of an API request; null or left out for the web chat. */
	tokenId?: string | null;
	/** The user's key that served (own-key requests). */
	keyId?: string | null;
	provider: ProviderName;
	model: string;
	keySource: KeySource;
	servedBy: ProviderName | null;
	api: 'web' | 'openai';
	success: boolean;
	errorCode: string | null;
	fallbackReason: string | null;
	promptTokens: number;
	completionTokens: number;
	costMicros: number;
	estimated: boolean;
	/** Parts of the totals, as the provider reported them (0 when it did not). */
	cachedReadTokens?: number;
	cacheWriteTokens?: number;
	reasoningTokens?: number;
	/** false: the model had no known price, `costMicros` is 0. */
	costKnown?: boolean;
	latencyMs: number | null;
	ttftMs: number | null;
	createdAt?: Date;
}

/** The error code of the placeholder written for a request whose process died mid-way. */
export const ABANDONED = 'abandoned';

/**
 * Inserts the record once: a retry that finds the request already recorded changes nothing
 * (unique request id). The one exception is an `abandoned` placeholder written by the reclaimer
 * for a request that turned out to be alive after all: its real record replaces the placeholder.
 */
export async function insertUsageRecord(db: Kysely<Database>, record: UsageRecord): Promise<void> {
	await usageRecordInsert(db, record).execute();
}

/** The insert of `insertUsageRecord`, to run on its own or inside another statement. */
export function usageRecordInsert(db: Kysely<Database>, record: UsageRecord) {
	return db
		.insertInto('usage_records')
		.values({
			request_id: record.requestId,
			user_id: record.userId,
			token_id: record.tokenId ?? null,
			key_id: record.keyId ?? null,
			provider: record.provider,
			model: record.model,
			key_source: record.keySource,
			served_by: record.servedBy,
			api: record.api,
			success: record.success,
			error_code: record.errorCode,
			fallback_reason: record.fallbackReason,
			prompt_tokens: record.promptTokens,
			completion_tokens: record.completionTokens,
			cost_micros: record.costMicros,
			estimated: record.estimated,
			cached_read_tokens: record.cachedReadTokens ?? 0,
			cache_write_tokens: record.cacheWriteTokens ?? 0,
			reasoning_tokens: record.reasoningTokens ?? 0,
			cost_known: record.costKnown ?? true,
			latency_ms: record.latencyMs,
			ttft_ms: record.ttftMs,
			...(record.createdAt ? { created_at: record.createdAt } : {})
		})
		.onConflict((oc) =>
			oc
				.column('request_id')
				.doUpdateSet((eb) => ({
					key_source: eb.ref('excluded.key_source'),
					served_by: eb.ref('excluded.served_by'),
					key_id: eb.ref('excluded.key_id'),
					model: eb.ref('excluded.model'),
					success: eb.ref('excluded.success'),
					error_code: eb.ref('excluded.error_code'),
					fallback_reason: eb.ref('excluded.fallback_reason'),
					prompt_tokens: eb.ref('excluded.prompt_tokens'),
					completion_tokens: eb.ref('excluded.completion_tokens'),
					cost_micros: eb.ref('excluded.cost_micros'),
					estimated: eb.ref('excluded.estimated'),
					cached_read_tokens: eb.ref('excluded.cached_read_tokens'),
					cache_write_tokens: eb.ref('excluded.cache_write_tokens'),
					reasoning_tokens: eb.ref('excluded.reasoning_tokens'),
					cost_known: eb.ref('excluded.cost_known'),
					latency_ms: eb.ref('excluded.latency_ms'),
					ttft_ms: eb.ref('excluded.ttft_ms')
				}))
				.where('usage_records.error_code', '=', ABANDONED)
		);
}

/**
 * A request whose reservation was reclaimed (its process died before settling) still gets its one
 * usage record: a failed, zero-cost `abandoned` placeholder, unless it was recorded already.
 * Reservation ids carry the attempt number (`<request id>:<n>`); the record uses the request id.
 */
export async function recordAbandonedRequests(
	db: Kysely<Database>,
	reclaimed: ReadonlyArray<{
		requestId: string;
		userId: string;
		provider: ProviderName;
		keySource: KeySource;
		createdAt: Date;
	}>
): Promise<void> {
	if (reclaimed.length === 0) return;
	await db
		.insertInto('usage_records')
		.values(
			reclaimed.map((r) => ({
				request_id: r.requestId.replace(/:\d+$/, ''),
				user_id: r.userId,
				provider: r.provider,
				model: 'unknown',
				key_source: r.keySource,
				served_by: null,
				api: 'web' as const,
				success: false,
				error_code: ABANDONED,
				estimated: false,
				created_at: r.createdAt
			}))
		)
		.onConflict((oc) => oc.column('request_id').doNothing())
		.execute();
}
