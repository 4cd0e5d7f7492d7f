-- Sign-up by invitation (SIGNUP_MODE=invite, issue 17): codes made by admins, each good for one
-- account. Only a SHA-256 of the code is stored; the code itself is shown once to its maker.
create table invite_codes (
	id uuid primary key default gen_random_uuid(),
	code_hash text not null check (code_hash ~ '^[0-9a-f]{64}$'),
	note text check (length(note) <= 200),
	created_by uuid references users (id) on delete set null,
	created_at timestamptz not null default now(),
	expires_at timestamptz,
	used_by uuid references users (id) on delete set null,
	used_at timestamptz,
	revoked_at timestamptz,
	constraint invite_codes_hash_unique unique (code_hash),
	constraint invite_codes_used_consistent check (used_by is null or used_at is not null),
	constraint invite_codes_not_used_and_revoked check (used_at is null or revoked_at is null)
);
