import { sql, type Kysely, type Transaction } from 'kysely';
import { PROVIDER_NAMES } from '$lib/providers';
import { recordAudit } from '$lib/server/audit';
import type { Database, ProviderName } from '$lib/server/db';
import { AppError, badRequest, notFound } from '$lib/server/errors';
import { parseInput } from '$lib/server/validation';
import { METADATA_COLUMNS, toMetadata, type KeyActor, type KeyManagerDeps, type KeyMetadata } from './metadata';
import { MAX_KEYS_PER_PROVIDER, reorderKeysInput, setPinnedInput } from './schemas';

/**
 * Several keys per provider, tried in the person's order (0 first), and the "always use this key"
 * mark that stops routing from going past one.
 */

/** The position after the provider's last key; positions are packed again when gaps ran out. */
export async function nextKeyPosition(
	trx: Transaction<Database>,
	userId: string,
	provider: ProviderName
): Promise<number> {
	const rows = await trx
		.selectFrom('provider_keys')
		.select(['id', 'position'])
		.where('user_id', '=', userId)
		.where('provider', '=', provider)
		.orderBy('position')
		.execute();
	if (rows.length >= MAX_KEYS_PER_PROVIDER) {
		throw new AppError(
			'conflict',
			`You can keep at most ${MAX_KEYS_PER_PROVIDER} ${PROVIDER_NAMES[provider]} keys. Remove or replace one first.`,
			{ reason: 'too_many_keys' }
		);
	}
	const last = rows.at(-1)?.position ?? -1;
	if (last + 1 < MAX_KEYS_PER_PROVIDER) return last + 1;
	await pack(
		trx,
		rows.map((row) => row.id)
	);
	return rows.length;
}

/** Positions 0..n-1 in the order of `ids`, in one statement (the unique order is checked at commit). */
async function pack(trx: Transaction<Database> | Kysely<Database>, ids: readonly string[]): Promise<void> {
	if (ids.length === 0) return;
	const cases = sql.join(
		ids.map((id, index) => sql`when ${id}::uuid then ${index}::smallint`),
		sql` `
	);
	await trx
		.updateTable('provider_keys')
		.set({ position: sql<number>`case id ${cases} end` })
		.where('id', 'in', ids)
		.execute();
}

/** The provider's keys in a new order; `keyIds` must name every one of them, once. */
export async function reorderKeys(
	deps: Pick<KeyManagerDeps, 'db'>,
	actor: KeyActor,
	input: unknown
): Promise<KeyMetadata[]> {
	const { provider, keyIds } = parseInput(reorderKeysInput, input);
	return deps.db.transaction().execute(async (trx) => {
		const current = await trx
			.selectFrom('provider_keys')
			.select('id')
			.where('user_id', '=', actor.userId)
			.where('provider', '=', provider)
			.forUpdate()
			.execute();
		const known = new Set(current.map((row) => row.id));
		if (current.length !== keyIds.length || keyIds.some((id) => !known.has(id))) {
			throw badRequest(
				`keyIds must list each of your ${PROVIDER_NAMES[provider]} keys once, in the order to try them.`
			);
		}
		await pack(trx, keyIds);
		await recordAudit(trx, {
			action: 'key.reorder',
			actorUserId: actor.userId,
			subjectUserId: actor.userId,
			provider,
			keyId: null,
			ip: actor.ip,
			details: { keyIds }
		});
		const rows = await trx
			.selectFrom('provider_keys')
			.select(METADATA_COLUMNS)
			.where('user_id', '=', actor.userId)
			.where('provider', '=', provider)
			.orderBy('position')
			.execute();
		return rows.map(toMetadata);
	});
}

/** Marks (or unmarks) "always use this key": routing then never tries a later key or the app key. */
export async function setKeyPinned(
	deps: Pick<KeyManagerDeps, 'db'>,
	actor: KeyActor,
	input: unknown
): Promise<KeyMetadata> {
	const { id, pinned } = parseInput(setPinnedInput, input);
	return deps.db.transaction().execute(async (trx) => {
		const row = await trx
			.updateTable('provider_keys')
			.set({ pinned })
			.where('id', '=', id)
			.where('user_id', '=', actor.userId)
			.returning(METADATA_COLUMNS)
			.executeTakeFirst();
		if (!row) throw notFound('That key does not exist.');
		await recordAudit(trx, {
			action: 'key.set_pinned',
			actorUserId: actor.userId,
			subjectUserId: actor.userId,
			provider: row.provider,
			keyId: row.id,
			ip: actor.ip,
			details: { pinned }
		});
		return toMetadata(row);
	});
}
