import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { isDatabaseUnavailable } from '$lib/server/db';
import type { Logger } from '$lib/server/log';
import { insertUsageRecord, type UsageRecord } from './records';

export interface UsageWriterOptions {
	log?: Logger;
	/** First retry delay; doubles up to `maxDelayMs`. */
	retryDelayMs?: number;
	maxDelayMs?: number;
}

/** An idempotent accounting write to retry until it lands (settling or releasing a reservation). */
export interface DurableWrite {
	/** For the log, e.g. `settle <request id>`; never key material. */
	description: string;
	/** The request this write belongs to: a field of every line about it. */
	requestId?: string;
	run(): Promise<unknown>;
}

/**
 * Writes usage records and never drops one because the database blinked: a write that fails
 * because PostgreSQL is unreachable is queued in memory and retried with backoff until it lands.
 * The same queue carries a request's other idempotent accounting writes (`writeDurably`:
 * settling or releasing its reservation). `flush()` (graceful shutdown) retries what is queued
 * within a deadline.
 */
export class UsageWriter {
	private queue: UsageRecord[] = [];
	private deferred: DurableWrite[] = [];
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
	async writeDurably(write: DurableWrite): Promise<void> {
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
