// `npm run keys:rotate`: re-seals every stored provider key under the first MASTER_KEYS entry,
// online and in batches; safe to interrupt and rerun (it resumes). See docs/security.md.
//
//   MASTER_KEYS="new:<base64>,old:<base64>" npm run keys:rotate [-- --batch-size 1000]
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/lib/server/config';
import { connectDatabase } from '../src/lib/server/db';
import { createLogger } from '../src/lib/server/log';
import { loadKeyring, rotateKeys } from '../src/lib/server/vault';
import { resealWebhookSecrets } from '../src/lib/server/alerts/reseal';
import { runCommand } from './run-command';

const USAGE = `Usage: npm run keys:rotate [-- --batch-size N]

Re-seals every provider key not yet under the first MASTER_KEYS entry. List the new key first
and keep the old ones after it until this reports that nothing is left:
  MASTER_KEYS="k2027:<new base64>,k2026:<old base64>" npm run keys:rotate
Servers keep running meanwhile (give them the same MASTER_KEYS first). Embedded mode (no
DATABASE_URL): stop the server first, PGlite is single-process.`;

async function main(): Promise<number> {
	const { values } = parseArgs({
		options: { 'batch-size': { type: 'string', default: '1000' }, help: { type: 'boolean', default: false } }
	});
	if (values.help) {
		console.log(USAGE);
		return 0;
	}
	const batchSize = Number(values['batch-size']);
	if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
		console.error('--batch-size must be a whole number from 1 to 10000');
		return 2;
	}
	const config = loadConfig();
	const log = createLogger({ level: 'warn' });
	// Rotating to a freshly generated key would make no sense: only an existing keyring is used.
	const keyring = await loadKeyring(config, log, { allowGenerate: false });
	const handle = await connectDatabase({
		databaseUrl: config.database.url,
		dataDir: config.database.dataDir,
		poolSize: 2,
		applicationName: 'latchkey-rotate-keys'
	});
	const controller = new AbortController();
	const onSignal = () => {
		console.log('\nStopping after the current batch; run the command again to resume.');
		controller.abort();
	};
	process.once('SIGINT', onSignal);
	process.once('SIGTERM', onSignal);
	const started = performance.now();
	try {
		console.log(
			`Re-sealing provider keys under master key "${keyring.activeId}" (keyring: ${keyring.ids.join(', ')}), batches of ${batchSize}.`
		);
		const result = await rotateKeys(handle.db, keyring, {
			batchSize,
			signal: controller.signal,
			onProgress: (p) => {
				const percent = p.total > 0 ? Math.min(100, Math.floor(((p.rotated + p.failed) / p.total) * 100)) : 100;
				const seconds = ((performance.now() - started) / 1000).toFixed(1);
				console.log(`  ${p.rotated}/${p.total} re-sealed (${percent}%), ${p.failed} failed, ${seconds} s`);
			}
		});
		const seconds = ((performance.now() - started) / 1000).toFixed(1);
		console.log(
			`Re-sealed ${result.rotated} key(s) from ${result.fromMasterKeyIds.join(', ') || 'no older key'} in ${seconds} s.`
		);
		if (result.failedKeyIds.length > 0) {
			console.error(
				`${result.failedKeyIds.length} key(s) could not be opened with this keyring and were left as they are (ids: ${result.failedKeyIds.join(', ')}). Their owners must add them again, or add the missing old master key to MASTER_KEYS and rerun.`
			);
		}
		// Alert webhook signing secrets are sealed the same way (one per user, so one short pass).
		const secrets = await resealWebhookSecrets(handle.db, keyring);
		console.log(`Re-sealed ${secrets.resealed} webhook signing secret(s).`);
		if (secrets.failedUserIds.length > 0) {
			console.error(
				`${secrets.failedUserIds.length} webhook secret(s) could not be opened (users: ${secrets.failedUserIds.join(', ')}); their owners must make a new secret in Settings.`
			);
		}
		if (result.remaining > 0 || secrets.remaining > 0) {
			console.error(
				`${result.remaining} key(s) and ${secrets.remaining} webhook secret(s) are still not under "${keyring.activeId}"; run the command again.`
			);
			return 1;
		}
		const old = keyring.ids.filter((id) => id !== keyring.activeId);
		console.log(
			`Every stored key is under "${keyring.activeId}".${old.length > 0 ? ` You may now remove ${old.join(', ')} from MASTER_KEYS.` : ''}`
		);
		return 0;
	} finally {
		await handle.close();
	}
}

runCommand(main, 'Key rotation failed');
