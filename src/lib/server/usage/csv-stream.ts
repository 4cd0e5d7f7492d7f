import type { Kysely } from 'kysely';
import { stringify } from 'csv-stringify/sync';
import type { Database, DatabaseKind } from '$lib/server/db';
import { CSV_OPTIONS, csvRecord, USAGE_CSV_COLUMNS } from './csv';
import { defaultExportStrategy, exportBatches, type ExportStrategy, type UsageExportFilters } from './export-query';

/**
 * Rows per database read. Measured on 1M rows (bench/export.ts): 500 keeps the heap's peak near
 * 35 MiB; 1,000 and more reach 75-95 MiB for no gain in speed.
 */
export const DEFAULT_EXPORT_BATCH_SIZE = 500;

export interface UsageCsvProgress {
	/** Data rows handed to the client so far (the header excluded). */
	rows: number;
	bytes: number;
}

export interface UsageCsvStreamOptions {
	strategy?: ExportStrategy;
	batchSize?: number;
	/** Runs before the last batch is released: if it throws (no audit entry), the download fails. */
	beforeComplete?: (progress: UsageCsvProgress) => Promise<void>;
	/** The client went away or reading failed; `progress` says how far it got. */
	onAbort?: (progress: UsageCsvProgress, reason: 'cancelled' | 'failed', error?: unknown) => Promise<void> | void;
}

/** The CSV as a pull-based byte stream: a batch is read only when the client took the last one. */
export function usageCsvStream(
	source: { db: Kysely<Database>; kind: DatabaseKind },
	filters: UsageExportFilters,
	options: UsageCsvStreamOptions = {}
): ReadableStream<Uint8Array> {
	const strategy = options.strategy ?? defaultExportStrategy(source.kind);
	if (strategy === 'cursor' && source.kind !== 'postgres') throw new Error('cursor export needs PostgreSQL');
	const batches = exportBatches(source.db, filters, strategy, options.batchSize ?? DEFAULT_EXPORT_BATCH_SIZE);
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
