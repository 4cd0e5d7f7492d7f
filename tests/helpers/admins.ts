import { createAccount, grantAdmin } from '$lib/server/auth';
import { connectDatabase, migrate } from '$lib/server/db';
import { isAppError } from '$lib/server/errors';

export interface Account {
	email: string;
	password: string;
}

/**
 * Makes admins the way an operator does (signing up never makes one): the account is created and
 * then granted admin rights with the same function `npm run admin -- grant` calls. Run it before
 * the server starts on that database (PGlite is single-process); the admins then sign in. An
 * account that exists already keeps its password.
 */
export async function seedAdmins(
	database: { databaseUrl?: string; dataDir?: string },
	accounts: readonly Account[],
	operator = 'test harness'
): Promise<void> {
	const handle = await connectDatabase(
		database.databaseUrl ? { databaseUrl: database.databaseUrl, poolSize: 2 } : { dataDir: database.dataDir }
	);
	try {
		await migrate(handle);
		for (const account of accounts) {
			await createAccount(handle.db, account).catch((error: unknown) => {
				if (!(isAppError(error) && error.code === 'conflict')) throw error;
			});
			await grantAdmin(handle.db, { email: account.email }, { kind: 'operator', name: operator });
		}
	} finally {
		await handle.close();
	}
}
