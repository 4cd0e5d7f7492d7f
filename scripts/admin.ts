// `npm run admin -- grant|revoke EMAIL` and `npm run admin -- list`: the operator's way to give and
// take admin rights (signing up never makes an admin). Audited with the operator as actor.
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { grantAdmin, listAdmins, revokeAdmin } from '../src/lib/server/auth';
import { loadConfig } from '../src/lib/server/config';
import { connectDatabase } from '../src/lib/server/db';
import { isAppError } from '../src/lib/server/errors';
import { runCommand } from './run-command';

const USAGE = `Usage: npm run admin -- <command>

  grant EMAIL    make the account with this email an admin (it must have signed up)
  revoke EMAIL   take its admin rights away; they end with its next request
  list           list the admins

Runs in the app's environment (DATABASE_URL and MASTER_KEYS, or DATA_DIR for the embedded
database). Embedded mode: stop the server first, PGlite is single-process.`;

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function usageError(problem: string): number {
	console.error(`${problem}\n\n${USAGE}`);
	return EXIT.usage;
}

/** Who ran the command, for the audit log (the OS account; there is no app session here). */
function operatorName(): string {
	try {
		return userInfo().username || 'operator';
	} catch {
		return process.env.USER || 'operator';
	}
}

async function main(): Promise<number> {
	let args: string[];
	try {
		const { values, positionals } = parseArgs({ options: { help: { type: 'boolean' } }, allowPositionals: true });
		if (values.help) {
			console.log(USAGE);
			return EXIT.ok;
		}
		args = positionals;
	} catch (error) {
		return usageError(error instanceof Error ? error.message : String(error));
	}
	const [command, email, ...extra] = args;
	if (!command) return usageError('Name a command.');
	if (command !== 'grant' && command !== 'revoke' && command !== 'list') {
		return usageError(`Unknown command "${command}".`);
	}
	if (command === 'list' && email !== undefined) return usageError('`list` takes no argument.');
	if (command !== 'list' && (!email || extra.length > 0)) return usageError(`\`${command}\` takes one email address.`);

	const config = loadConfig();
	const handle = await connectDatabase({
		databaseUrl: config.database.url,
		dataDir: config.database.dataDir,
		poolSize: 2,
		applicationName: 'latchkey-admin'
	});
	try {
		if (command === 'list') {
			const admins = await listAdmins(handle.db);
			if (admins.length === 0) console.log('Nobody is an admin. Grant someone: npm run admin -- grant EMAIL');
			for (const admin of admins)
				console.log(`${admin.email}\t(account since ${admin.createdAt.toISOString().slice(0, 10)})`);
			return EXIT.ok;
		}
		const actor = { kind: 'operator', name: operatorName() } as const;
		const target = { email: email ?? '' };
		if (command === 'grant') {
			const { user, changed } = await grantAdmin(handle.db, target, actor);
			console.log(changed ? `${user.email} is now an admin.` : `${user.email} is already an admin; nothing changed.`);
			return EXIT.ok;
		}
		const { user, changed, admins } = await revokeAdmin(handle.db, target, actor);
		console.log(
			changed
				? `${user.email} is no longer an admin (from their next request on).`
				: `${user.email} is not an admin; nothing changed.`
		);
		if (admins === 0) console.log('Nobody is an admin now. Grant someone with: npm run admin -- grant EMAIL');
		return EXIT.ok;
	} catch (error) {
		if (!isAppError(error)) throw error;
		console.error(error.message);
		return error.code === 'bad_request' ? EXIT.usage : EXIT.failed;
	} finally {
		await handle.close();
	}
}

runCommand(main, 'The admin command failed');
