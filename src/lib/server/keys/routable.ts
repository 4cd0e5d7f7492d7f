import { sql, type Expression, type Kysely } from 'kysely';
import { lastUseIsStale, type Database } from '$lib/server/db';
import { withUnsealedKey, type Keyring, type SealedKey } from '$lib/server/vault';
import { keyExpiredSql, METADATA_COLUMNS, toMetadata, type KeyMetadata, type MetadataRow } from './metadata';

/** An active key with its sealed form, so routing can plan and open it from one query. */
export interface RoutableKey extends KeyMetadata {
	sealed: SealedKey;
	/** `last_used_at` is unset or older than a minute (judged by the database clock): `markKeyUsed` is due. */
	useStale: boolean;
}

/** A row of `routableKeysQuery`. */
export interface RoutableKeyRow extends MetadataRow {
	master_key_id: string;
	nonce: Uint8Array;
	ciphertext: Uint8Array;
	use_stale: boolean;
	expired: boolean;
}

const staleUseSql = lastUseIsStale('provider_keys.last_used_at');

/**
 * The user's active keys with their sealed material, as a query routing embeds in its own
 * statement (no round trip of its own). `userId` may reference an outer query's column.
 */
export function routableKeysQuery(db: Kysely<Database>, userId: string | Expression<string>) {
	return db
		.selectFrom('provider_keys')
		.select([
			...METADATA_COLUMNS,
			'master_key_id',
			'nonce',
			'ciphertext',
			staleUseSql.as('use_stale'),
			keyExpiredSql.as('expired')
		])
		.where('provider_keys.user_id', '=', userId)
		.where('is_active', '=', true);
}

export function toRoutableKey(row: RoutableKeyRow): RoutableKey {
	return {
		...toMetadata(row),
		sealed: { masterKeyId: row.master_key_id, nonce: row.nonce, ciphertext: row.ciphertext },
		useStale: row.use_stale
	};
}

/** Opens a key fetched by `routableKeysQuery` for one call; the bytes are zeroed afterwards. */
export function withRoutableKey<T>(
	keyring: Keyring,
	userId: string,
	key: RoutableKey,
	fn: (apiKey: string) => T | Promise<T>
): Promise<T> {
	return withUnsealedKey(keyring, { userId, provider: key.provider }, key.sealed, (apiKey) => fn(apiKey));
}

/** Records a request's use of the key; the condition keeps concurrent requests to one write a minute. */
export async function markKeyUsed(db: Kysely<Database>, keyId: string): Promise<void> {
	await db
		.updateTable('provider_keys')
		.set({ last_used_at: sql`now()` })
		.where('id', '=', keyId)
		.where(staleUseSql)
		.execute();
}
