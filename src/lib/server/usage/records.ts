import type { Kysely } from 'kysely';
import type { Database, KeySource, ProviderName } from '$lib/server/db';
import { isDatabaseUnavailable } from '$lib/server/db';
import type { Logger } from '$lib/server/log';

/** What one chat request cost and how it ended; exactly one per request id. */
export interface UsageRecord {
	requestId: string;
	userId: string;
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
	await db
		.insertInto('usage_records')
		.values({
			request_id: record.requestId,
			user_id: record.userId,
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
					model: eb.ref('excluded.model'),
					success: eb.ref('excluded.success'),
					error_code: eb.ref('excluded.error_code'),
					fallback_reason: eb.ref('excluded.fallback_reason'),
					prompt_tokens: eb.ref('excluded.prompt_tokens'),
					completion_tokens: eb.ref('excluded.completion_tokens'),
					cost_micros: eb.ref('excluded.cost_micros'),
					estimated: eb.ref('excluded.estimated'),
					latency_ms: eb.ref('excluded.latency_ms'),
					ttft_ms: eb.ref('excluded.ttft_ms')
				}))
				.where('usage_records.error_code', '=', ABANDONED)
		)
		.execute();
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

export interface UsageWriterOptions {
	log?: Logger;
	/** First retry delay; doubles up to `maxDelayMs`. */
	retryDelayMs?: number;
	maxDelayMs?: number;
}

/** An idempotent database write to retry until it lands (settling or releasing a reservation). */
export interface DeferredWrite {
	/** For the log, e.g. `settle <request id>`; never key material. */
	description: string;
	/** The request this write belongs to: a field of every line about it. */
	requestId?: string;
	run(): Promise<unknown>;
}

/**
 * Writes usage records and never drops one because the database blinked: a write that fails
 * because PostgreSQL is unreachable is queued in memory and retried with backoff until it lands.
 * The same queue carries the other idempotent accounting writes of a request (settling or
 * releasing its reservation, `defer`). `flush()` (graceful shutdown) retries what is queued
 * within a deadline.
 */
export class UsageWriter {
	private queue: UsageRecord[] = [];
	private deferred: DeferredWrite[] = [];
	private draining: Promise<boolean> | undefined;
	private timer: ReturnType<typeof setTimeout> | undefined;
	private delayMs: number;

	constructor(
		private readonly db: Kysely<Database>,
		private readonly options: UsageWriterOptions = {}
	) {
		this.delayMs = options.retryDelayMs ?? 250;
	}

	/** Records and deferred writes waiting for the database. */
	get pendingCount(): number {
		return this.queue.length + this.deferred.length;
	}

	/**
	 * Runs `write` now; if the database is unreachable, queues it and retries with the records.
	 * Other failures are thrown. `write.run` must be safe to run twice (it may have landed before
	 * the connection broke).
	 */
	async defer(write: DeferredWrite): Promise<void> {
		try {
			await write.run();
		} catch (error) {
			if (!isDatabaseUnavailable(error)) throw error;
			this.options.log?.warn(
				{ requestId: write.requestId, write: write.description },
				'write queued: database unreachable'
			);
			this.deferred.push(write);
			this.schedule();
		}
	}

	async write(record: UsageRecord): Promise<void> {
		try {
			await insertUsageRecord(this.db, record);
		} catch (error) {
			if (!isDatabaseUnavailable(error)) throw error;
			this.options.log?.warn({ requestId: record.requestId }, 'usage record queued: database unreachable');
			this.queue.push(record);
			this.schedule();
		}
	}

	private schedule(): void {
		if (this.timer) return;
		this.timer = setTimeout(() => {
			this.timer = undefined;
			void this.drain().then((drained) => {
				if (!drained) {
					this.delayMs = Math.min(this.delayMs * 2, this.options.maxDelayMs ?? 5_000);
					this.schedule();
				} else {
					this.delayMs = this.options.retryDelayMs ?? 250;
				}
			});
		}, this.delayMs);
		this.timer.unref?.();
	}

	/**
	 * Tries every queued record and write once; true when the queues are empty afterwards. The
	 * retry timer and `flush()` may ask at the same time: they share one pass, so no entry is
	 * written twice or dropped unwritten.
	 */
	drain(): Promise<boolean> {
		this.draining ??= this.drainOnce().finally(() => (this.draining = undefined));
		return this.draining;
	}

	private async drainOnce(): Promise<boolean> {
		while (this.deferred.length > 0) {
			const write = this.deferred[0]!;
			try {
				await write.run();
				this.deferred.shift();
			} catch (error) {
				if (!isDatabaseUnavailable(error)) {
					this.options.log?.error(
						{ err: error, requestId: write.requestId, write: write.description },
						'queued write rejected by the database'
					);
					this.deferred.shift();
					continue;
				}
				return false;
			}
		}
		while (this.queue.length > 0) {
			const record = this.queue[0]!;
			try {
				await insertUsageRecord(this.db, record);
				this.queue.shift();
			} catch (error) {
				if (!isDatabaseUnavailable(error)) {
					// A record the database refuses will never land; keep the evidence in the log.
					this.options.log?.error({ err: error, record }, 'usage record rejected by the database');
					this.queue.shift();
					continue;
				}
				return false;
			}
		}
		return true;
	}

	/** Graceful shutdown: keep retrying until written or the deadline passes. */
	async flush(deadlineMs = 10_000): Promise<number> {
		const until = Date.now() + deadlineMs;
		while (!(await this.drain()) && Date.now() < until) {
			await new Promise((r) => setTimeout(r, 200));
		}
		if (this.timer) clearTimeout(this.timer);
		this.timer = undefined;
		if (this.queue.length > 0) {
			this.options.log?.error({ records: this.queue }, 'usage records could not be written before shutdown');
		}
		if (this.deferred.length > 0) {
			this.options.log?.error(
				{ writes: this.deferred.map((w) => w.description) },
				'queued writes could not be done before shutdown; the reclaimer will return their reservations'
			);
		}
		return this.pendingCount;
	}
}
