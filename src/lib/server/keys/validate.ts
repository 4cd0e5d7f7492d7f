import { sql, type Kysely } from 'kysely';
import type { Database, KeyStatus } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { parseInput } from '$lib/server/validation';
import { withUnsealedKey } from '$lib/server/vault';
import { PROVIDER_NAMES } from '$lib/providers';
import type { KeyCheck } from '$lib/server/providers';
import { checkProviderKey, describeCheckFailure } from './provider';
import { notifyKeyInvalid } from './invalidate';
import {
	keyNotFound,
	METADATA_COLUMNS,
	RECHECK_AFTER_SECONDS,
	secondsFromNow,
	toMetadata,
	type KeyActor,
	type KeyManagerDeps,
	type KeyMetadata
} from './metadata';
import { keyIdInput } from './schemas';
import { learnKeyList, saveKeyModelList } from '$lib/server/catalog';

export interface ValidatedKey {
	key: KeyMetadata;
	/** What the provider said this time; `key.status` is the stored result. */
	result: KeyStatus;
	notice: string;
}

/** Checks one of the caller's keys with its provider now and stores the outcome. */
export async function validateKey(deps: KeyManagerDeps, actor: KeyActor, input: unknown): Promise<ValidatedKey> {
	const { id } = parseInput(keyIdInput, input);
	const row = await deps.db
		.selectFrom('provider_keys')
		.select(['id', 'user_id', 'provider', 'master_key_id', 'nonce', 'ciphertext'])
		.where('id', '=', id)
		.where('user_id', '=', actor.userId)
		.executeTakeFirst();
	if (!row) throw keyNotFound();
	const check = await withUnsealedKey(
		deps.keyring,
		{ userId: row.user_id, provider: row.provider },
		{ masterKeyId: row.master_key_id, nonce: row.nonce, ciphertext: row.ciphertext },
		(apiKey) => checkProviderKey(deps.config, row.provider, apiKey)
	);
	deps.keyHooks?.checked?.({ provider: row.provider, result: check.status, trigger: 'user' });
	const key = await recordCheck(deps.db, row.id, check, {
		actorUserId: actor.userId,
		ip: actor.ip,
		trigger: 'user'
	});
	if (!key) throw keyNotFound(); // removed while it was being checked
	const name = PROVIDER_NAMES[row.provider];
	const notice =
		check.status === 'valid'
			? `${name} accepted this key.`
			: check.status === 'invalid'
				? `${name} rejected this key (${check.httpStatus ?? 'refused'}). Replace it with a working key.`
				: `${name} could not be reached to check this key (${describeCheckFailure(check)}); it keeps its last known status and will be checked again within the hour.`;
	return { key, result: check.status, notice };
}

/** Stores a check's outcome; only a definitive answer changes `status` (a provider outage never does). */
export async function recordCheck(
	db: Kysely<Database>,
	keyId: string,
	check: KeyCheck,
	context: { actorUserId: string | null; ip: string | null; trigger: 'user' | 'scheduled' }
): Promise<KeyMetadata | undefined> {
	const definitive = check.status !== 'unverified';
	const stored = await db.transaction().execute(async (trx) => {
		const row = await trx
			.updateTable('provider_keys')
			.set({
				status: definitive ? check.status : sql<KeyStatus>`status`,
				last_error_code: check.errorCode ?? null,
				last_validated_at: definitive ? sql<Date>`now()` : sql<Date | null>`last_validated_at`,
				next_validation_at: secondsFromNow(RECHECK_AFTER_SECONDS[check.status]),
				updated_at: sql`now()`
			})
			.where('id', '=', keyId)
			.returning([...METADATA_COLUMNS, 'user_id'])
			.executeTakeFirst();
		if (!row) return undefined;
		if (check.models) await saveKeyModelList(trx, row.id, row.provider, check.models);
		// Once per key (the notification window is the key id), whoever ran the check.
		if (row.status === 'invalid') {
			await notifyKeyInvalid(trx, { userId: row.user_id, provider: row.provider, keyId: row.id, last4: row.last4 });
		}
		await recordAudit(trx, {
			action: 'key.validate',
			actorUserId: context.actorUserId,
			subjectUserId: row.user_id,
			provider: row.provider,
			keyId: row.id,
			ip: context.ip,
			details: {
				result: check.status,
				status: row.status,
				errorCode: check.errorCode ?? null,
				trigger: context.trigger
			}
		});
		return row;
	});
	if (!stored) return undefined;
	if (check.models) learnKeyList(stored.id, stored.provider, check.models);
	return toMetadata(stored);
}
