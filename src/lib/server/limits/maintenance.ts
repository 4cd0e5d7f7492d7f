import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { DEFAULT_RECLAIM_AFTER_SECONDS, pruneLimitHistory, reclaimExpiredReservations } from './reclaim';
import type { ReclaimedReservation } from './types';

export interface LimitsMaintenanceOptions {
	/** How often to reclaim (default every 60 s). */
	intervalMs?: number;
	reclaimAfterSeconds?: number;
	/** Prune finished history older than this many days, once a day (default 35; 0 = never). */
	pruneAfterDays?: number;
	/** Called with each batch reclaimed, e.g. to write usage records for the dead requests. */
	onReclaimed?: (reclaimed: ReclaimedReservation[]) => void | Promise<void>;
	onError?: (error: unknown) => void;
}

/**
 * Runs the reclaimer (and a daily prune) in the background of one instance. Every instance may
 * run it: reclaiming uses SKIP LOCKED, so each reservation is reclaimed once. The timer does not
 * keep the process alive. Returns a function that stops it (and waits for a run in progress).
 */
export function startLimitsMaintenance(
	db: Kysely<Database>,
	options: LimitsMaintenanceOptions = {}
): () => Promise<void> {
	const intervalMs = options.intervalMs ?? 60_000;
	const pruneAfterDays = options.pruneAfterDays ?? 35;
	let lastPrune = 0;
	let running: Promise<void> | undefined;
	const tick = async () => {
		try {
			for (;;) {
				const batch = await reclaimExpiredReservations(db, {
					olderThanSeconds: options.reclaimAfterSeconds ?? DEFAULT_RECLAIM_AFTER_SECONDS
				});
				if (batch.length > 0) await options.onReclaimed?.(batch);
				if (batch.length < 1000) break;
			}
			if (pruneAfterDays > 0 && Date.now() - lastPrune > 86_400_000) {
				lastPrune = Date.now();
				await pruneLimitHistory(db, { olderThanDays: pruneAfterDays });
			}
		} catch (error) {
			options.onError?.(error);
		}
	};
	const timer = setInterval(() => {
		// A slow run is not stacked on: the next tick after it finishes starts the next run.
		if (running) return;
		running = tick().finally(() => (running = undefined));
	}, intervalMs);
	timer.unref();
	return async () => {
		clearInterval(timer);
		await running;
	};
}
