import { sql, type Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { notify } from '$lib/server/notifications';
import { PROVIDER_NAMES } from '$lib/providers';
import { RECHECK_AFTER_SECONDS, secondsFromNow } from './metadata';

/** Tells the user (bell and toast) once per key that it stopped working. */
export async function notifyKeyInvalid(
	db: Kysely<Database>,
	key: { userId: string; provider: Provider; keyId: string; last4: string }
): Promise<void> {
	const name = PROVIDER_NAMES[key.provider];
	await notify(db, {
		userId: key.userId,
		kind: 'key_invalid',
		provider: key.provider,
		keySource: 'user',
		windowKey: `key:${key.keyId}`,
		message: `${name} rejected your key (…${key.last4}), so it is marked invalid. Replace or re-test it on the API keys page.`
	});
}

/**
 * A provider rejected the key during a request (401/403): marks it invalid, notifies and audits,
 * once (a key already invalid is left alone). Returns whether it changed.
 */
export async function markKeyInvalid(
	db: Kysely<Database>,
	keyId: string,
	errorCode: string,
	context: { actorUserId?: string | null; ip?: string | null } = {}
): Promise<boolean> {
	const code = errorCode.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 64) || 'invalid';
	return db.transaction().execute(async (trx) => {
		const row = await trx
			.updateTable('provider_keys')
			.set({
				status: 'invalid',
				last_error_code: code,
				last_validated_at: sql`now()`,
				next_validation_at: secondsFromNow(RECHECK_AFTER_SECONDS.invalid),
				updated_at: sql`now()`
			})
			.where('id', '=', keyId)
			.where('status', '<>', 'invalid')
			.returning(['id', 'user_id', 'provider', 'last4'])
			.executeTakeFirst();
		if (!row) return false;
		await notifyKeyInvalid(trx, { userId: row.user_id, provider: row.provider, keyId: row.id, last4: row.last4 });
		await recordAudit(trx, {
			action: 'key.invalidate',
			actorUserId: context.actorUserId ?? null,
			subjectUserId: row.user_id,
			provider: row.provider,
			keyId: row.id,
			ip: context.ip ?? null,
			details: { errorCode: code, source: 'request' }
		});
		return true;
	});
}
