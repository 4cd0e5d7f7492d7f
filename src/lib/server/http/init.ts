import { ConfigError } from '$lib/server/config';
import { startServices, stopServices } from '$lib/server/services';
import { startBackgroundJobs } from '$lib/server/keys';
import { startLimitsMaintenance } from '$lib/server/limits';
import { recordAbandonedRequests } from '$lib/server/usage';

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
		// Daily revalidation of stored provider keys; instances share the work through the database.
		const keyJobs = startBackgroundJobs(services);
		// Reservations of requests whose process died are returned to the cap after a timeout, and
		// each such request still gets its one usage record.
		const stopLimitsMaintenance = startLimitsMaintenance(services.db, {
			onReclaimed: (reclaimed) => recordAbandonedRequests(services.db, reclaimed),
			onError: (error) => services.log.error({ err: error }, 'limits maintenance failed')
		});
		process.once('sveltekit:shutdown', () => {
			void Promise.allSettled([keyJobs.stop(), stopLimitsMaintenance()]).finally(() => stopServices());
		});
	} catch (error) {
		if (error instanceof ConfigError) {
			console.error(error.message);
			process.exit(78); // EX_CONFIG
		}
		console.error('Latchkey failed to start:', error instanceof Error ? error.message : error);
		process.exit(1);
	}
}
