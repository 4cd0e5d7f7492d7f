import { sql, type Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { keyFingerprint, sameFingerprint, type Keyring, type SealSubject } from '$lib/server/vault';
import { PROVIDER_NAMES } from '$lib/providers';

/** Records the fingerprints of keys an admin switched off, so removing and re-adding one does not undo it. */
export async function blockKeyFingerprints(db: Kysely<Database>, keyIds: string[], blockedBy: string): Promise<void> {
	if (keyIds.length === 0) return;
	await db
		.insertInto('blocked_key_fingerprints')
		.columns(['user_id', 'provider', 'master_key_id', 'fingerprint', 'last4', 'key_id', 'blocked_by'])
		.expression((eb) =>
			eb
				.selectFrom('provider_keys')
				.select([
					'user_id',
					'provider',
					'master_key_id',
					'fingerprint',
					'last4',
					'id',
					sql<string>`${blockedBy}::uuid`.as('blocked_by')
				])
				.where('id', 'in', keyIds)
		)
		.onConflict((oc) => oc.columns(['user_id', 'provider', 'master_key_id', 'fingerprint']).doNothing())
		.execute();
}

/** Lifts the block recorded for a key id (the key may be gone); returns what was lifted. */
export async function liftKeyBlock(
	db: Kysely<Database>,
	keyId: string
): Promise<{ user_id: string; provider: Provider; last4: string } | undefined> {
	const lifted = await db
		.deleteFrom('blocked_key_fingerprints')
		.where('key_id', '=', keyId)
		.returning(['user_id', 'provider', 'last4'])
		.execute();
	return lifted[0];
}

/** A 409 for a key an admin blocked, before any provider call. */
export async function refuseBlockedKey(
	db: Kysely<Database>,
	keyring: Keyring,
	subject: SealSubject,
	bytes: Uint8Array
): Promise<void> {
	const blocks = await db
		.selectFrom('blocked_key_fingerprints')
		.select(['master_key_id', 'fingerprint', 'last4'])
		.where('user_id', '=', subject.userId)
		.where('provider', '=', subject.provider)
		.execute();
	for (const block of blocks) {
		// A block under a master key no longer configured cannot be compared (rotation carries stored keys' blocks over).
		if (!keyring.has(block.master_key_id)) continue;
		if (!sameFingerprint(keyFingerprint(keyring, block.master_key_id, subject, bytes), block.fingerprint)) continue;
		throw new AppError(
			'conflict',
			`An administrator switched this ${PROVIDER_NAMES[subject.provider]} key (…${block.last4}) off; ask them to lift the block.`,
			{ reason: 'key_disabled_by_admin' }
		);
	}
}
