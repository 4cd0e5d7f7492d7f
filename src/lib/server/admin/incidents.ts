import { sql, type Kysely } from 'kysely';
import { providerName } from '$lib/providers';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { notFound } from '$lib/server/errors';
import { blockKeyFingerprints, liftKeyBlock } from '$lib/server/keys';
import type { AdminActor } from '$lib/server/limits';
import { parseInput } from '$lib/server/validation';
import { adminKeyOf, KEY_METADATA_COLUMNS, type AdminKey } from './directory';
import { adminDisableAllKeysInput, adminDisableKeyInput, adminEnableKeyInput } from './schemas';

// Incident response: an admin's switch-off holds (the owner can neither switch the key on nor
// remove and re-add it) until an admin lifts it; every change is audited in its transaction.

export interface DeactivatedKey {
	userId: string;
	key: AdminKey;
	/** False when it was already off (nothing changed, nothing audited). */
	changed: boolean;
	notice: string;
}

export interface DeactivatedKeys {
	userId: string;
	/** The keys this call switched off (keys already off are not listed). */
	deactivated: AdminKey[];
	notice: string;
}

async function auditDeactivation(
	db: Kysely<Database>,
	actor: AdminActor,
	key: { id: string; user_id: string; provider: Provider; last4: string },
	scope: 'key' | 'all'
): Promise<void> {
	await recordAudit(db, {
		action: 'key.deactivate',
		actorUserId: actor.actorUserId,
		subjectUserId: key.user_id,
		provider: key.provider,
		keyId: key.id,
		ip: actor.ip ?? null,
		details: { by: 'admin', scope, last4: key.last4 }
	});
}

/** Switches off one key of any user. Unknown key id: NOT_FOUND. */
export async function deactivateKey(db: Kysely<Database>, input: unknown, actor: AdminActor): Promise<DeactivatedKey> {
	const { keyId } = parseInput(adminDisableKeyInput, input);
	const result = await db.transaction().execute(async (trx) => {
		const updated = await trx
			.updateTable('provider_keys')
			.set({ is_active: false, disabled_by_admin_at: sql`now()`, updated_at: sql`now()` })
			.where('id', '=', keyId)
			// Also locks a key its owner had switched off, so they cannot switch it back on.
			.where('disabled_by_admin_at', 'is', null)
			.returning(KEY_METADATA_COLUMNS)
			.executeTakeFirst();
		if (updated) {
			await blockKeyFingerprints(trx, [updated.id], actor.actorUserId);
			await auditDeactivation(trx, actor, updated, 'key');
			return { row: updated, changed: true };
		}
		const existing = await trx
			.selectFrom('provider_keys')
			.select(KEY_METADATA_COLUMNS)
			.where('id', '=', keyId)
			.executeTakeFirst();
		return existing ? { row: existing, changed: false } : undefined;
	});
	if (!result) throw notFound('There is no key with that id. It may have been removed; reload the page.');
	const key = adminKeyOf(result.row);
	const notice = result.changed
		? `Switched off the ${providerName(key.provider)} key …${key.last4}.`
		: `The ${providerName(key.provider)} key …${key.last4} was already off.`;
	return { userId: result.row.user_id, key, changed: result.changed, notice };
}

/** Switches off (and blocks) all of a user's keys, or one provider's, in one statement; unknown user: NOT_FOUND. */
export async function deactivateUserKeys(
	db: Kysely<Database>,
	input: { userId: string; provider?: Provider },
	actor: AdminActor
): Promise<DeactivatedKeys> {
	const { userId, provider } = parseInput(adminDisableAllKeysInput, input);
	const rows = await db.transaction().execute(async (trx) => {
		const user = await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
		if (!user) return undefined;
		let update = trx
			.updateTable('provider_keys')
			.set({ is_active: false, disabled_by_admin_at: sql`now()`, updated_at: sql`now()` })
			.where('user_id', '=', userId)
			.where('disabled_by_admin_at', 'is', null);
		if (provider) update = update.where('provider', '=', provider);
		const updated = await update.returning(KEY_METADATA_COLUMNS).execute();
		updated.sort((a, b) => a.provider.localeCompare(b.provider));
		await blockKeyFingerprints(
			trx,
			updated.map((key) => key.id),
			actor.actorUserId
		);
		for (const key of updated) await auditDeactivation(trx, actor, key, provider ? 'key' : 'all');
		return updated;
	});
	if (!rows) throw notFound('There is no user with that id.');
	const deactivated = rows.map(adminKeyOf);
	const notice =
		deactivated.length === 0
			? 'No key was on; nothing changed.'
			: `Switched off ${deactivated.length} ${deactivated.length === 1 ? 'key' : 'keys'}: ${deactivated.map((k) => `${providerName(k.provider)} …${k.last4}`).join(', ')}.`;
	return { userId, deactivated, notice };
}

export interface EnabledKey {
	userId: string;
	/** The key, switched back on; null when its owner removed it meanwhile. */
	key: AdminKey | null;
	/** False when it was neither switched off nor blocked by an admin (nothing audited). */
	changed: boolean;
}

/** Lifts an admin's switch-off: the key, if still stored, is on again, and its owner may re-add it. */
export async function enableKey(db: Kysely<Database>, input: unknown, actor: AdminActor): Promise<EnabledKey> {
	const { keyId } = parseInput(adminEnableKeyInput, input);
	const result = await db.transaction().execute(async (trx) => {
		const lifted = await liftKeyBlock(trx, keyId);
		const enabled = await trx
			.updateTable('provider_keys')
			.set({ is_active: true, disabled_by_admin_at: null, updated_at: sql`now()` })
			.where('id', '=', keyId)
			.where('disabled_by_admin_at', 'is not', null)
			.returning(KEY_METADATA_COLUMNS)
			.executeTakeFirst();
		const row =
			enabled ??
			(await trx.selectFrom('provider_keys').select(KEY_METADATA_COLUMNS).where('id', '=', keyId).executeTakeFirst());
		const key = row ?? lifted;
		if (!key) return undefined;
		const changed = enabled !== undefined || lifted !== undefined;
		if (changed) {
			await recordAudit(trx, {
				action: 'key.unblock',
				actorUserId: actor.actorUserId,
				subjectUserId: key.user_id,
				provider: key.provider,
				keyId,
				ip: actor.ip ?? null,
				details: { by: 'admin', stored: row !== undefined, last4: key.last4 }
			});
		}
		return { userId: key.user_id, key: row ? adminKeyOf(row) : null, changed };
	});
	if (!result) throw notFound('There is no key with that id. It may have been removed; reload the page.');
	return result;
}
