import { sql, type Kysely } from 'kysely';
import { lastUseIsStale, type Database } from '$lib/server/db';

/** `last_used_at` is unset or older than a minute: a write is due. */
export const staleUseSql = lastUseIsStale('access_tokens.last_used_at');

/** Writes `last_used_at`; the condition keeps concurrent requests (and instances) to one write a minute. */
export async function touchAccessToken(db: Kysely<Database>, tokenId: string): Promise<void> {
	await db
		.updateTable('access_tokens')
		.set({ last_used_at: sql<Date>`now()` })
		.where('id', '=', tokenId)
		.where(staleUseSql)
		.execute();
}
