import { sql, type Kysely } from 'kysely';
import sodium from 'libsodium-wrappers';
import type { Database } from '$lib/server/db';
import { isVaultError, openKey, sealKey, type Keyring } from '$lib/server/vault';

export interface WebhookResealResult {
	resealed: number;
	/** Users whose secret this keyring cannot open: they must make a new one in Settings. */
	failedUserIds: string[];
	/** Secrets still not under the active master key (failed ones, or locked by a concurrent run). */
	remaining: number;
}

/**
 * Master key rotation for webhook signing secrets (`npm run keys:rotate` runs it after the
 * provider keys): re-seals every secret not under the active master key, in SKIP LOCKED batches.
 */
export async function resealWebhookSecrets(
	db: Kysely<Database>,
	keyring: Keyring,
	options: { batchSize?: number } = {}
): Promise<WebhookResealResult> {
	const batchSize = Math.max(1, Math.trunc(options.batchSize ?? 500));
	const active = keyring.activeId;
	const failedUserIds: string[] = [];
	let resealed = 0;
	for (;;) {
		const batch = await db.transaction().execute(async (trx) => {
			let query = trx
				.selectFrom('alert_settings')
				.select(['user_id', 'secret_master_key_id', 'secret_nonce', 'secret_ciphertext'])
				.where('secret_master_key_id', '<>', active);
			if (failedUserIds.length > 0) query = query.where('user_id', 'not in', failedUserIds);
			const rows = await query.orderBy('user_id').limit(batchSize).forUpdate().skipLocked().execute();
			for (const row of rows) {
				if (!row.secret_master_key_id || !row.secret_nonce || !row.secret_ciphertext) continue;
				const subject = { userId: row.user_id, provider: 'alert_webhook' as const };
				let plaintext: Uint8Array | undefined;
				try {
					plaintext = openKey(keyring, subject, {
						masterKeyId: row.secret_master_key_id,
						nonce: row.secret_nonce,
						ciphertext: row.secret_ciphertext
					});
					const sealed = sealKey(keyring, subject, plaintext);
					await trx
						.updateTable('alert_settings')
						.set({ secret_master_key_id: active, secret_nonce: sealed.nonce, secret_ciphertext: sealed.ciphertext })
						.where('user_id', '=', row.user_id)
						.execute();
					resealed += 1;
				} catch (error) {
					if (!isVaultError(error)) throw error;
					failedUserIds.push(row.user_id);
				} finally {
					if (plaintext) sodium.memzero(plaintext);
				}
			}
			return rows.length;
		});
		if (batch < batchSize) break;
	}
	const left = await sql<{ n: number }>`
		select count(*)::int as n from alert_settings where secret_master_key_id <> ${active}`.execute(db);
	return { resealed, failedUserIds, remaining: Number(left.rows[0]?.n ?? 0) };
}
