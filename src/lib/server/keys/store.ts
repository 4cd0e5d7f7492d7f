import { sql, type Kysely } from 'kysely';
import sodium from 'libsodium-wrappers';
import { isUniqueViolation, type Database } from '$lib/server/db';
import { AppError, notFound } from '$lib/server/errors';
import { recordAudit } from '$lib/server/audit';
import { parseInput } from '$lib/server/validation';
import { keyBytes, keyFingerprint, sameFingerprint, sealKey, type SealSubject } from '$lib/server/vault';
import { refuseBlockedKey } from './blocks';
import { PROVIDER_NAMES } from '$lib/providers';
import { lastUsedAtSql } from './last-use';
import { keySwitchedNotice } from './notices';
import { checkProviderKey, describeCheckFailure, normalizeProviderKey } from './provider';
import {
	keyExpiredSql,
	keyNotFound,
	METADATA_COLUMNS,
	RECHECK_AFTER_SECONDS,
	secondsFromNow,
	toMetadata,
	type KeyActor,
	type KeyManagerDeps,
	type KeyMetadata
} from './metadata';
import { keyIdInput, setActiveInput, upsertKeyInput } from './schemas';
import { nextKeyPosition } from './order';
import { expiryOf, expiryValues, utcMinute } from './expiry';
import { learnKeyList, saveKeyModelList } from '$lib/server/catalog';

export interface UpsertedKey {
	key: KeyMetadata;
	/** True when it replaced the provider's previous key. */
	replaced: boolean;
	/** A sentence for the user: accepted, or saved but not checkable right now. */
	notice: string;
}

/** The caller's keys, metadata only, in a stable order; last use as the usage records tell it. */
export async function listKeys(db: Kysely<Database>, userId: string): Promise<KeyMetadata[]> {
	const rows = await db
		.selectFrom('provider_keys')
		.select([
			...METADATA_COLUMNS.filter((c) => c !== 'last_used_at'),
			lastUsedAtSql.as('last_used_at'),
			keyExpiredSql.as('expired')
		])
		.where('user_id', '=', userId)
		.orderBy('provider')
		.orderBy('position')
		.execute();
	return rows.map(toMetadata);
}

/** The user's active keys, each provider's in the user's order, metadata only. For the model list. */
export async function activeKeysOf(db: Kysely<Database>, userId: string): Promise<KeyMetadata[]> {
	const rows = await db
		.selectFrom('provider_keys')
		.select([...METADATA_COLUMNS, keyExpiredSql.as('expired')])
		.where('user_id', '=', userId)
		.where('is_active', '=', true)
		.orderBy('provider')
		.orderBy('position')
		.execute();
	return rows.map(toMetadata);
}

/**
 * Shape check, duplicate check, live check, then stored sealed, replacing the provider's previous
 * key in one transaction. Rejected (401/403): a 400, nothing stored; provider unreachable: stored
 * as `unverified` and rechecked within the hour.
 */
export async function upsertKey(deps: KeyManagerDeps, actor: KeyActor, input: unknown): Promise<UpsertedKey> {
	const parsed = parseInput(upsertKeyInput, input);
	const { provider } = parsed;
	const apiKey = normalizeProviderKey(provider, parsed.apiKey);
	const name = PROVIDER_NAMES[provider];
	const subject: SealSubject = { userId: actor.userId, provider };
	const bytes = keyBytes(apiKey);
	try {
		await refuseBlockedKey(deps.db, deps.keyring, subject, bytes);
		await refuseDuplicate(deps, subject, bytes);
		const check = await checkProviderKey(deps.config, provider, apiKey);
		deps.keyHooks?.checked?.({ provider, result: check.status, trigger: 'add' });
		if (check.status === 'invalid') {
			throw new AppError(
				'bad_request',
				`${name} rejected this key (${check.httpStatus ?? 'refused'}${check.errorCode === 'api_key_invalid' ? ' API_KEY_INVALID' : ''}). Check that you copied the whole key and that it has not been revoked; nothing was saved.`,
				{ reason: 'key_rejected', details: { field: 'apiKey', provider, errorCode: check.errorCode ?? null } }
			);
		}
		const sealed = sealKey(deps.keyring, subject, bytes);
		const fingerprint = keyFingerprint(deps.keyring, sealed.masterKeyId, subject, bytes);
		const values = {
			user_id: actor.userId,
			provider,
			last4: apiKey.slice(-4),
			ciphertext: sealed.ciphertext,
			nonce: sealed.nonce,
			master_key_id: sealed.masterKeyId,
			fingerprint,
			status: check.status,
			last_error_code: check.errorCode ?? null,
			last_validated_at: check.status === 'valid' ? sql<Date>`now()` : null,
			next_validation_at: secondsFromNow(RECHECK_AFTER_SECONDS[check.status]),
			// A new key starts with the expiry asked for, else none (the old key's is not carried over).
			...expiryValues(expiryOf(parsed) ?? null)
		};
		const stored = await withOneRetryOnRace(() =>
			deps.db.transaction().execute(async (trx) => {
				// Adding keeps every key; otherwise the named key, or the provider's first, is replaced.
				const previous = parsed.add
					? undefined
					: await trx
							.deleteFrom('provider_keys')
							.where('user_id', '=', actor.userId)
							.where('provider', '=', provider)
							.where(
								'id',
								'=',
								parsed.replaceKeyId ??
									trx
										.selectFrom('provider_keys')
										.select('id')
										.where('user_id', '=', actor.userId)
										.where('provider', '=', provider)
										.orderBy('position')
										.limit(1)
							)
							.returning(['id', 'label', 'last4', 'position'])
							.executeTakeFirst();
				if (parsed.replaceKeyId && !previous) throw notFound('That key does not exist.');
				// Replacing (or a first key) takes the first place: two at once then meet on the unique
				// order and the loser retries as a replacement, so one row stays.
				const position = previous?.position ?? (parsed.add ? await nextKeyPosition(trx, actor.userId, provider) : 0);
				const row = await trx
					.insertInto('provider_keys')
					// No label given: a replacement keeps the old key's label; '' or null clears it.
					.values({
						...values,
						position,
						label: parsed.label === undefined ? (previous?.label ?? null) : parsed.label || null
					})
					.returning(METADATA_COLUMNS)
					.executeTakeFirstOrThrow();
				if (check.models) await saveKeyModelList(trx, row.id, provider, check.models);
				await recordAudit(trx, {
					action: previous ? 'key.replace' : 'key.add',
					actorUserId: actor.userId,
					subjectUserId: actor.userId,
					provider,
					keyId: row.id,
					ip: actor.ip,
					details: {
						status: check.status,
						errorCode: check.errorCode ?? null,
						last4: row.last4,
						replacedKeyId: previous?.id ?? null
					}
				});
				return { row, previous };
			})
		);
		if (check.models) learnKeyList(stored.row.id, provider, check.models);
		const replacedNote = stored.previous ? ` It replaces your previous key (…${stored.previous.last4}).` : '';
		const expiresAt = stored.row.expires_at;
		const expiryNote = expiresAt ? ` It expires on ${utcMinute(expiresAt)}.` : '';
		const notice =
			check.status === 'valid'
				? `Saved: ${name} accepted this key.${replacedNote}${expiryNote}`
				: `Saved, but ${name} could not be reached to check it (${describeCheckFailure(check)}). It will be checked again within the hour.${replacedNote}${expiryNote}`;
		return { key: toMetadata(stored.row), replaced: stored.previous !== undefined, notice };
	} finally {
		sodium.memzero(bytes);
	}
}

/** Same user, same provider, the very same key: a clear 409 instead of a pointless replace. */
async function refuseDuplicate(deps: KeyManagerDeps, subject: SealSubject, bytes: Uint8Array): Promise<void> {
	const rows = await deps.db
		.selectFrom('provider_keys')
		.select(['master_key_id', 'fingerprint', 'last4', 'is_active'])
		.where('user_id', '=', subject.userId)
		.where('provider', '=', subject.provider)
		.execute();
	// A row under a master key this server no longer holds cannot be compared; replacing it is right.
	const existing = rows.find(
		(row) =>
			deps.keyring.has(row.master_key_id) &&
			sameFingerprint(keyFingerprint(deps.keyring, row.master_key_id, subject, bytes), row.fingerprint)
	);
	if (!existing) return;
	const name = PROVIDER_NAMES[subject.provider];
	throw new AppError(
		'conflict',
		`This ${name} key (…${existing.last4}) is already saved${existing.is_active ? '' : ' but switched off; turn it on instead'}. Use "Test" to check it again.`,
		{ reason: 'key_already_saved' }
	);
}

/** Two simultaneous adds take one position: the loser retries once (and is placed after the winner). */
async function withOneRetryOnRace<T>(run: () => Promise<T>): Promise<T> {
	try {
		return await run();
	} catch (error) {
		if (!isUniqueViolation(error, 'provider_keys_order')) throw error;
		return run();
	}
}

export async function removeKey(
	deps: Pick<KeyManagerDeps, 'db'>,
	actor: KeyActor,
	input: unknown
): Promise<{ id: string; removed: true }> {
	const { id } = parseInput(keyIdInput, input);
	const removed = await deps.db.transaction().execute(async (trx) => {
		const row = await trx
			.deleteFrom('provider_keys')
			.where('id', '=', id)
			.where('user_id', '=', actor.userId)
			.returning(['id', 'provider', 'last4'])
			.executeTakeFirst();
		if (!row) return undefined;
		await recordAudit(trx, {
			action: 'key.remove',
			actorUserId: actor.userId,
			subjectUserId: actor.userId,
			provider: row.provider,
			keyId: row.id,
			ip: actor.ip,
			details: { last4: row.last4 }
		});
		return row;
	});
	if (!removed) throw keyNotFound();
	return { id: removed.id, removed: true };
}

export async function setKeyActive(
	deps: Pick<KeyManagerDeps, 'db'>,
	actor: KeyActor,
	input: unknown
): Promise<KeyMetadata & { notice: string }> {
	const { id, active } = parseInput(setActiveInput, input);
	const row = await deps.db.transaction().execute(async (trx) => {
		const updated = await trx
			.updateTable('provider_keys')
			.set({ is_active: active, updated_at: sql`now()` })
			.where('id', '=', id)
			.where('user_id', '=', actor.userId)
			// A key an admin switched off cannot be switched back on by its owner.
			.where((eb) => (active ? eb('disabled_by_admin_at', 'is', null) : eb.lit(true)))
			.returning(METADATA_COLUMNS)
			.executeTakeFirst();
		if (!updated) {
			const locked = await trx
				.selectFrom('provider_keys')
				.select('id')
				.where('id', '=', id)
				.where('user_id', '=', actor.userId)
				.where('disabled_by_admin_at', 'is not', null)
				.executeTakeFirst();
			if (locked) {
				throw new AppError(
					'conflict',
					'An admin switched this key off. Add a new key for this provider to replace it, or contact your admin.',
					{ reason: 'key_disabled_by_admin' }
				);
			}
			return undefined;
		}
		await recordAudit(trx, {
			action: active ? 'key.activate' : 'key.deactivate',
			actorUserId: actor.userId,
			subjectUserId: actor.userId,
			provider: updated.provider,
			keyId: updated.id,
			ip: actor.ip
		});
		return updated;
	});
	if (!row) throw keyNotFound();
	const key = toMetadata(row);
	return { ...key, notice: keySwitchedNotice(key) };
}
