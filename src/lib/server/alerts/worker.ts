import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import type { Logger } from '$lib/server/log';
import { sendDelivery, type ClaimedDelivery, type SendDeps, type SendOutcome } from './deliver';
import { notifyUnusualUsage } from './unusual';

/** Waits before the 2nd, 3rd, 4th and 5th try; after the 5th failure a delivery is given up. */
export const RETRY_DELAYS_SECONDS: readonly number[] = [1, 5, 30, 120];
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;

/** A claimed delivery comes due again after this if its runner died mid-send. */
const CLAIM_LEASE_SECONDS = 60;

/** How far back the admins' channel picks up notifications (so turning it on sends no flood). */
const ADMIN_LOOKBACK_HOURS = 1;

export interface DeliveryWorkerDeps extends SendDeps {
	log?: Pick<Logger, 'warn' | 'info' | 'error'>;
}

export interface DeliveryRunOptions {
	batchSize?: number;
	/** Tests shorten the schedule; production uses RETRY_DELAYS_SECONDS. */
	retryDelaysSeconds?: readonly number[];
}

export interface DeliverySummary {
	claimed: number;
	delivered: number;
	retrying: number;
	failed: number;
}

/** Queues every recent notification for the admins' webhook once (the unique index makes it once). */
export async function queueAdminDeliveries(db: Kysely<Database>): Promise<number> {
	const result = await sql`
		insert into alert_deliveries (notification_id, user_id, channel, next_attempt_at)
		select n.id, null, 'admin_webhook', now()
		from notifications n
		where n.created_at > now() - make_interval(hours => ${ADMIN_LOOKBACK_HOURS})
		on conflict (notification_id, channel) where notification_id is not null do nothing`.execute(db);
	return Number(result.numAffectedRows ?? 0);
}

/**
 * Claims due deliveries (SKIP LOCKED: instances never send one twice at once), counts the try at
 * the claim (so a crash mid-send still uses one up) and sends them, then records the outcome.
 */
export async function deliverDueAlerts(
	deps: DeliveryWorkerDeps,
	options: DeliveryRunOptions = {}
): Promise<DeliverySummary> {
	const claimed = await claimDue(deps.db, options.batchSize ?? 25);
	const summary: DeliverySummary = { claimed: claimed.length, delivered: 0, retrying: 0, failed: 0 };
	await Promise.all(
		claimed.map(async (delivery) => {
			const started = Date.now();
			const outcome = await sendDelivery(deps, delivery).catch((error: unknown): SendOutcome => {
				deps.log?.error({ err: error, deliveryId: delivery.id }, 'an alert delivery failed unexpectedly');
				return { ok: false, httpStatus: null, error: 'internal error', retry: true };
			});
			const status = await recordOutcome(deps.db, delivery, outcome, Date.now() - started, options);
			summary[status] += 1;
			if (status === 'failed') {
				deps.log?.warn(
					{ deliveryId: delivery.id, channel: delivery.channel, attempts: delivery.attempts },
					'an alert could not be delivered; giving up'
				);
			}
		})
	);
	return summary;
}

async function claimDue(db: Kysely<Database>, batchSize: number): Promise<ClaimedDelivery[]> {
	const result = await sql<ClaimedDelivery>`
		update alert_deliveries as d
		set next_attempt_at = now() + make_interval(secs => ${CLAIM_LEASE_SECONDS}), attempts = d.attempts + 1
		from (
			select id from alert_deliveries
			where status = 'pending' and next_attempt_at <= now()
			order by next_attempt_at
			limit ${batchSize}
			for update skip locked
		) as due
		where d.id = due.id
		returning d.id, d.notification_id, d.user_id, d.channel, d.attempts`.execute(db);
	return result.rows;
}

async function recordOutcome(
	db: Kysely<Database>,
	delivery: ClaimedDelivery,
	outcome: SendOutcome,
	durationMs: number,
	options: DeliveryRunOptions
): Promise<'delivered' | 'retrying' | 'failed'> {
	const delays = options.retryDelaysSeconds ?? RETRY_DELAYS_SECONDS;
	const delay = delays[delivery.attempts - 1];
	const status = outcome.ok ? 'delivered' : outcome.retry && delay !== undefined ? 'retrying' : 'failed';
	await db.transaction().execute(async (trx) => {
		await trx
			.insertInto('alert_delivery_attempts')
			.values({
				delivery_id: delivery.id,
				attempt: delivery.attempts,
				ok: outcome.ok,
				http_status: outcome.httpStatus,
				error: outcome.error,
				duration_ms: Math.max(0, Math.round(durationMs))
			})
			.execute();
		await trx
			.updateTable('alert_deliveries')
			.set({
				status: status === 'retrying' ? 'pending' : status,
				next_attempt_at: status === 'retrying' ? sql<Date>`now() + make_interval(secs => ${delay})` : null,
				last_http_status: outcome.httpStatus,
				last_error: outcome.error,
				delivered_at: outcome.ok ? sql<Date>`now()` : null
			})
			.where('id', '=', delivery.id)
			.execute();
	});
	return status;
}

export interface AlertWorker {
	/** Stops scheduling and waits for the run in progress. */
	stop(): Promise<void>;
}

/**
 * The in-process delivery scheduler, like the key revalidation job: unref'd timer, no
 * overlapping runs, work shared between instances through the claim. It also looks for unusual
 * usage every few minutes, so those notifications are sent like the others.
 */
export function startAlertWorker(
	deps: DeliveryWorkerDeps & { log: Pick<Logger, 'warn' | 'info' | 'error'>; adminWebhook: boolean },
	options: DeliveryRunOptions & { intervalMs?: number; maxBatchesPerRun?: number; unusualUsageEveryMs?: number } = {}
): AlertWorker {
	const batchSize = options.batchSize ?? 25;
	const unusualEveryMs = options.unusualUsageEveryMs ?? 5 * 60_000;
	let lastUnusualScan = 0;
	let running: Promise<void> | undefined;
	let stopped = false;
	const runOnce = async () => {
		// Every instance scans; the notification's once-per-hour window keeps the result single.
		if (Date.now() - lastUnusualScan >= unusualEveryMs) {
			lastUnusualScan = Date.now();
			const raised = await notifyUnusualUsage(deps.db);
			if (raised > 0) deps.log.info({ raised }, 'unusual usage notifications raised');
		}
		if (deps.adminWebhook) await queueAdminDeliveries(deps.db);
		for (let batch = 0; batch < (options.maxBatchesPerRun ?? 10) && !stopped; batch++) {
			const summary = await deliverDueAlerts(deps, { ...options, batchSize });
			if (summary.claimed < batchSize) break;
		}
	};
	const tick = () => {
		if (running || stopped) return;
		running = runOnce()
			.catch((error: unknown) => deps.log.error({ err: error }, 'alert delivery run failed; retrying shortly'))
			.finally(() => {
				running = undefined;
			});
	};
	const interval = setInterval(tick, options.intervalMs ?? 2_000);
	interval.unref();
	return {
		async stop() {
			stopped = true;
			clearInterval(interval);
			await running;
		}
	};
}
