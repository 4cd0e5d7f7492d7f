-- Personal access tokens for the OpenAI-compatible API (`Authorization: Bearer lk_<lookup>_<secret>`).
-- Only a SHA-256 of the whole token is stored; `lookup_id` is the public part, shown as the prefix.

create table access_tokens (
	id uuid primary key default gen_random_uuid(),
	user_id uuid not null references users (id) on delete cascade,
	name text not null,
	lookup_id text not null,
	token_hash text not null,
	created_at timestamptz not null default now(),
	last_used_at timestamptz,
	expires_at timestamptz,
	revoked_at timestamptz,
	-- Names are trimmed before they get here; the check keeps it so.
	constraint access_tokens_name_valid check (length(name) between 1 and 100 and name = btrim(name)),
	constraint access_tokens_lookup_id_format check (lookup_id ~ '^[A-Za-z0-9]{8}$'),
	constraint access_tokens_hash_format check (token_hash ~ '^[0-9a-f]{64}$'),
	constraint access_tokens_lookup_id_unique unique (lookup_id)
);
create index access_tokens_user_id_idx on access_tokens (user_id, created_at);
