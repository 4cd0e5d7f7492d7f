import { sql } from 'kysely';

/**
 * A key's last use as its card shows it: `last_used_at` (written at most once a minute, and only
 * when an answer streamed) or the newest request this key took to its provider, answered or not.
 * A limit's refusal never reached the provider, so it does not count; requests from before the
 * key replaced another are the other key's.
 */
export const lastUsedAtSql = sql<Date | null>`greatest(
	provider_keys.last_used_at,
	(
		select max(u.created_at)
		from usage_records u
		where u.user_id = provider_keys.user_id
			and u.key_source = 'user'
			and u.served_by = provider_keys.provider
			and u.created_at >= provider_keys.created_at
			and (u.success or u.error_code like 'upstream\\_%')
	)
)`;
