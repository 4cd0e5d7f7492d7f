-- Sealed provider keys (vault + key manager) and the append-only audit log.

-- One row per user and provider: adding a key for a provider that has one replaces it (the old
-- row is deleted in the same transaction), so "one active key per user and provider" holds by
-- construction; is_active lets a user stop using a key without deleting it.
create table provider_keys (
	id uuid primary key default gen_random_uuid(),
	user_id uuid not null references users (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	label text null check (length(label) between 1 and 64),
	last4 text not null check (length(last4) = 4),
	-- secretbox(key, nonce, subkey(master_key_id, user_id, provider)); see docs/security.md.
	ciphertext bytea not null check (length(ciphertext) between 17 and 1024),
	nonce bytea not null check (length(nonce) = 24),
	master_key_id text not null check (master_key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
	-- keyed BLAKE2b under a key derived from master_key_id; never a plain hash of the key.
	fingerprint bytea not null check (length(fingerprint) = 32),
	status text not null check (status in ('valid', 'invalid', 'unverified')),
	is_active boolean not null default true,
	last_error_code text null check (length(last_error_code) <= 64),
	created_at timestamptz not null default now(),
	updated_at timestamptz not null default now(),
	last_used_at timestamptz null,
	last_validated_at timestamptz null,
	next_validation_at timestamptz not null,
	constraint provider_keys_one_per_provider unique (user_id, provider)
);
-- The revalidation job claims due rows in this order.
create index provider_keys_due_idx on provider_keys (next_validation_at);
-- Rotation finds rows not yet under the active master key.
create index provider_keys_master_key_idx on provider_keys (master_key_id);

-- No foreign keys: entries outlive the users and keys they mention, and the table never changes.
create table audit_log (
	id bigserial primary key,
	at timestamptz not null default now(),
	actor_user_id uuid null,
	subject_user_id uuid null,
	action text not null check (action ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
	provider text null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	key_id uuid null,
	ip text null check (length(ip) <= 100),
	details jsonb not null default '{}' check (jsonb_typeof(details) = 'object')
);
create index audit_log_subject_idx on audit_log (subject_user_id, id);
create index audit_log_actor_idx on audit_log (actor_user_id, id);
create index audit_log_at_idx on audit_log (at);

create function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
	raise exception 'audit_log is append-only' using errcode = '42501';
end
$$;
create trigger audit_log_no_update_or_delete before update or delete on audit_log
	for each row execute function audit_log_refuse_change();
create trigger audit_log_no_truncate before truncate on audit_log
	for each statement execute function audit_log_refuse_change();
