import { sql } from 'kysely';

/**
 * Whether a `last_used_at` column is due to be written: unset, or older than a minute by the
 * database clock. Tokens and provider keys record their last use at most once a minute, so a busy
 * client does not cost a write per request.
 */
export function lastUseIsStale(column: string) {
	const ref = sql.ref(column);
	return sql<boolean>`(${ref} is null or ${ref} < now() - interval '1 minute')`;
}
