import { dev } from '$app/environment';
import { ConfigError } from '$lib/server/config';
import { startServices, stopServices, type Services } from '$lib/server/services';
import { startBackgroundJobs } from '$lib/server/keys';
import { startCatalogRefresh } from '$lib/server/catalog';
import { startLimitsMaintenance } from '$lib/server/limits';
import { recordAbandonedRequests } from '$lib/server/usage';
import { startAlertWorker } from '$lib/server/alerts';

/**
 * Start-up: parse the environment, open the database, migrate. A bad environment stops the
 * process with a message naming each wrong variable, not a stack trace.
 */
export async function initServer(): Promise<void> {
	try {
		const services = await startServices();
		const { port, host, origin } = services.config.server;
		const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
		services.log.info(
			{ database: services.dbHandle.kind },
			`Latchkey is ready at ${origin ?? `http://${shownHost}:${port}`} (database: ${services.dbHandle.kind === 'pglite' ? `embedded PGlite in ${services.config.database.dataDir}` : 'PostgreSQL'})`
		);
		for (const warning of services.config.warnings) services.log.warn(warning);
		// Daily revalidation of stored provider keys; instances share the work through the database.
		const keyJobs = startBackgroundJobs(services);
		// The model catalog: stored lists now, OpenRouter's list when a day old, other instances' lists.
		const catalogJobs = startCatalogRefresh(services);
		// Reservations of requests whose process died are returned to the cap after a timeout, and
		// each such request still gets its one usage record.
		const stopLimitsMaintenance = startLimitsMaintenance(services.db, {
			onReclaimed: (reclaimed) => recordAbandonedRequests(services.db, reclaimed),
			onError: (error) => services.log.error({ err: error }, 'limits maintenance failed')
		});
		// Webhook and e-mail alerts: queued rows, sent and retried off the request path.
		const alertWorker = startAlertWorker({
			...services,
			adminWebhook: services.config.alerts.adminWebhook !== undefined
		});
		// adapter-node owns SIGTERM/SIGINT in production; under `vite dev` the dev server does.
		if (!dev)
			handleShutdown(services, () =>
				Promise.allSettled([keyJobs.stop(), catalogJobs.stop(), stopLimitsMaintenance(), alertWorker.stop()])
			);
	} catch (error) {
		if (error instanceof ConfigError) {
			console.error(error.message);
			process.exit(78); // EX_CONFIG
		}
		console.error('Latchkey failed to start:', error instanceof Error ? error.message : error);
		process.exit(1);
	}
}

/** After the last stream is stopped, how long its bookkeeping (settle, usage record) may take. */
const BOOKKEEPING_GRACE_MS = 5_000;

/**
 * Graceful shutdown on SIGTERM (or SIGINT). adapter-node stops accepting connections at once, lets
 * the open ones finish, and closes them all after SHUTDOWN_TIMEOUT seconds; it emits
 * `sveltekit:shutdown` once its server is closed. Our part:
 *   1. streams still open one second before that bound are stopped by the server: routing settles
 *      their reservations, records their usage (`server_shutdown`) and the client gets an error
 *      event saying the server is restarting, instead of a cut connection;
 *   2. on `sveltekit:shutdown`, wait for the bookkeeping of every request in flight, stop the
 *      background jobs, flush the queued usage records and settlements, close the database.
 */
function handleShutdown(services: Services, stopJobs: () => Promise<unknown>): void {
	const drainMs = Math.max(0, services.config.shutdownTimeoutSeconds * 1000 - 1000);
	let stopTimer: ReturnType<typeof setTimeout> | undefined;
	const onSignal = (signal: NodeJS.Signals) => {
		if (stopTimer) return;
		services.log.info(
			{ signal, openChats: services.activeChats.size, drainMs },
			'shutting down: no new connections, open streams may finish'
		);
		stopTimer = setTimeout(() => {
			const stopped = services.activeChats.stopAll();
			if (stopped > 0) services.log.warn({ stopped }, 'stopped the streams still open at the shutdown bound');
		}, drainMs);
		stopTimer.unref();
	};
	process.once('SIGTERM', onSignal);
	process.once('SIGINT', onSignal);

	process.once('sveltekit:shutdown', () => {
		clearTimeout(stopTimer);
		void (async () => {
			// Every connection is closed now; anything still running has nobody to answer.
			services.activeChats.stopAll();
			const idle = await services.activeChats.whenIdle(BOOKKEEPING_GRACE_MS);
			if (!idle) services.log.error({ open: services.activeChats.size }, 'chat requests still open at shutdown');
			await stopJobs();
			const pending = services.usageWriter.pendingCount;
			await stopServices();
			services.log.info({ flushedWrites: pending }, 'shut down');
		})().catch((error: unknown) => {
			services.log.error({ err: error }, 'graceful shutdown failed');
			process.exitCode = 1;
		});
	});
}
