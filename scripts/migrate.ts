// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits.
import { loadConfig, ConfigError } from '../src/lib/server/config';
import { connectDatabase, migrate } from '../src/lib/server/db';

try {
	const config = loadConfig();
	const handle = await connectDatabase({
		databaseUrl: config.database.url,
		dataDir: config.database.dataDir,
		poolSize: 2
	});
	try {
		const result = await migrate(handle);
		if (result.applied.length > 0)
			console.log(`Applied ${result.applied.length} migration(s): ${result.applied.join(', ')}`);
		if (result.definitions.length > 0)
			console.log(`Defined ${result.definitions.length} function(s) anew: ${result.definitions.join(', ')}`);
		if (result.newerRelease)
			console.log('The database was migrated by a newer release; its functions were left as they are.');
		if (result.applied.length === 0 && result.definitions.length === 0 && !result.newerRelease)
			console.log(`Database is up to date (${result.alreadyApplied} migrations applied earlier).`);
	} finally {
		await handle.close();
	}
} catch (error) {
	console.error(error instanceof ConfigError ? error.message : `Migration failed: ${(error as Error).message}`);
	process.exit(1);
}
