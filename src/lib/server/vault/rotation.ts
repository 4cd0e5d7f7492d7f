import { sql, type Kysely } from 'kysely';
import sodium from 'libsodium-wrappers';
import type { Database } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { isVaultError } from './errors';
import type { Keyring } from './keyring';
import { keyFingerprint, openKey, sealKey } from './seal';

export interface RotationProgress {
	/** Rows re-sealed so far in this run. */
	rotated: number;
	/** Rows that could not be opened (left as they are, reported by id). */
	failed: number;
	/** Rows not under the active master key when the run started. */
	total: number;
	batches: number;
}

export interface RotateKeysOptions {
	/** Rows per transaction; default 1000. */
	batchSize?: number;
	/** Called after each committed batch; a throw stops the run (what was committed stays). */
	onProgress?: (progress: RotationProgress) => void | Promise<void>;
	/** Stops after the current batch. */
	signal?: AbortSignal;
	/** Who started it, for the audit entry (the script: nobody). */
	actor?: { userId?: string | null; ip?: string | null };
}

export interface RotationResult extends RotationProgress {
	toMasterKeyId: string;
	fromMasterKeyIds: string[];
	failedKeyIds: string[];
	/** Rows still not under the active master key afterwards (failed, or locked by another runner). */
	remaining: number;
	completed: boolean;
}

interface Resealed {
	id: string;
	nonce: Uint8Array;
	ciphertext: Uint8Array;
	fingerprint: Uint8Array;
	/** Set for a key an admin switched off: its block moves to the new fingerprint too. */
	blocked?: { userId: string; provider: string; masterKeyId: string; fingerprint: Uint8Array };
}

/** Re-seals (and re-fingerprints) every key not under the active master key, online: SKIP LOCKED batches, resumable. */
export async function rotateKeys(
	db: Kysely<Database>,
	keyring: Keyring,
	options: RotateKeysOptions = {}
): Promise<RotationResult> {
	const batchSize = Math.max(1, Math.trunc(options.batchSize ?? 1000));
	const active = keyring.activeId;
	const total = await countNotUnder(db, active);
	const progress: RotationProgress = { rotated: 0, failed: 0, total, batches: 0 };
	const failedKeyIds: string[] = [];
	const fromIds = new Set<string>();
	let drained = false;
	let remaining: number | undefined;
	try {
		// Walk the ids in order; at the end, one more pass from the top picks up rows another
		// transaction held locked when we went by.
		let after: string | undefined;
		for (;;) {
			if (options.signal?.aborted) break;
			const batch = await rotateBatch(db, keyring, { batchSize, after, skip: failedKeyIds });
			if (batch.claimed === 0) {
				if (after === undefined) {
					drained = true;
					break;
				}
				after = undefined;
				continue;
			}
			after = batch.lastId;
			for (const id of batch.from) fromIds.add(id);
			failedKeyIds.push(...batch.failedIds);
			progress.rotated += batch.rotated;
			progress.failed = failedKeyIds.length;
			progress.batches += 1;
			await options.onProgress?.({ ...progress });
		}
		remaining = await countNotUnder(db, active);
	} finally {
		// Also for an interrupted run, so the log shows what was done; never mask the real error.
		await recordAudit(db, {
			action: 'vault.rotate',
			actorUserId: options.actor?.userId ?? null,
			ip: options.actor?.ip ?? null,
			details: {
				to: active,
				from: [...fromIds].sort(),
				rotated: progress.rotated,
				failed: failedKeyIds.length,
				remaining: remaining ?? null,
				completed: drained && remaining === 0
			}
		}).catch(() => {});
	}
	return {
		...progress,
		toMasterKeyId: active,
		fromMasterKeyIds: [...fromIds].sort(),
		failedKeyIds,
		remaining,
		completed: drained && remaining === 0
	};
}

async function countNotUnder(db: Kysely<Database>, masterKeyId: string): Promise<number> {
	const row = await db
		.selectFrom('provider_keys')
		.select((eb) => eb.fn.countAll<number>().as('n'))
		.where('master_key_id', '<>', masterKeyId)
		.executeTakeFirstOrThrow();
	return Number(row.n);
}

async function rotateBatch(
	db: Kysely<Database>,
	keyring: Keyring,
	options: { batchSize: number; after: string | undefined; skip: string[] }
): Promise<{ claimed: number; rotated: number; lastId?: string; failedIds: string[]; from: Set<string> }> {
	const active = keyring.activeId;
	return db.transaction().execute(async (trx) => {
		let query = trx
			.selectFrom('provider_keys')
			.select([
				'id',
				'user_id',
				'provider',
				'master_key_id',
				'nonce',
				'ciphertext',
				'fingerprint',
				'disabled_by_admin_at'
			])
			.where('master_key_id', '<>', active);
		if (options.after !== undefined) query = query.where('id', '>', options.after);
		if (options.skip.length > 0) query = query.where('id', 'not in', options.skip);
		const rows = await query.orderBy('id').limit(options.batchSize).forUpdate().skipLocked().execute();
		const resealed: Resealed[] = [];
		const failedIds: string[] = [];
		const from = new Set<string>();
		for (const row of rows) {
			const subject = { userId: row.user_id, provider: row.provider };
			from.add(row.master_key_id);
			let plaintext: Uint8Array | undefined;
			try {
				plaintext = openKey(keyring, subject, {
					masterKeyId: row.master_key_id,
					nonce: row.nonce,
					ciphertext: row.ciphertext
				});
				const sealed = sealKey(keyring, subject, plaintext);
				resealed.push({
					id: row.id,
					nonce: sealed.nonce,
					ciphertext: sealed.ciphertext,
					fingerprint: keyFingerprint(keyring, active, subject, plaintext),
					blocked:
						row.disabled_by_admin_at === null
							? undefined
							: { ...subject, masterKeyId: row.master_key_id, fingerprint: row.fingerprint }
				});
			} catch (error) {
				if (!isVaultError(error)) throw error;
				failedIds.push(row.id);
			} finally {
				if (plaintext) sodium.memzero(plaintext);
			}
		}
		if (resealed.length > 0) {
			// One statement per batch: 1000 single-row updates would be 1000 round trips.
			const values = sql.join(
				resealed.map((r) => sql`(${r.id}::uuid, ${r.nonce}::bytea, ${r.ciphertext}::bytea, ${r.fingerprint}::bytea)`)
			);
			await sql`
				update provider_keys as p
				set master_key_id = ${active}, nonce = v.nonce, ciphertext = v.ciphertext, fingerprint = v.fingerprint
				from (values ${values}) as v (id, nonce, ciphertext, fingerprint)
				where p.id = v.id`.execute(trx);
			await moveBlocks(trx, active, resealed);
		}
		return { claimed: rows.length, rotated: resealed.length, lastId: rows[rows.length - 1]?.id, failedIds, from };
	});
}

/** Blocks of admin-locked keys follow them to the new master key, or they could not be compared once the old one is retired. */
async function moveBlocks(db: Kysely<Database>, active: string, resealed: Resealed[]): Promise<void> {
	const moves = resealed.flatMap((r) =>
		r.blocked
			? [
					sql`(${r.blocked.userId}::uuid, ${r.blocked.provider}::text, ${r.blocked.masterKeyId}::text, ${r.blocked.fingerprint}::bytea, ${r.fingerprint}::bytea)`
				]
			: []
	);
	if (moves.length === 0) return;
	await sql`
		update blocked_key_fingerprints as b
		set master_key_id = ${active}, fingerprint = v.next
		from (values ${sql.join(moves)}) as v (user_id, provider, master_key_id, fingerprint, next)
		where b.user_id = v.user_id and b.provider = v.provider
			and b.master_key_id = v.master_key_id and b.fingerprint = v.fingerprint`.execute(db);
}
