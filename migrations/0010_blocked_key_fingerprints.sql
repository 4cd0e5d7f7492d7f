-- A key an admin switched off stays refused after its owner removes it (issue 17): its keyed
-- fingerprint is kept here, with no foreign key to the key row, until an admin lifts the block.
create table blocked_key_fingerprints (
	user_id uuid not null references users (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	master_key_id text not null check (master_key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
	fingerprint bytea not null check (length(fingerprint) = 32),
	last4 text not null check (length(last4) = 4),
	-- The key row the admin switched off; lifting names it (the row may be gone by then).
	key_id uuid not null,
	blocked_by uuid null references users (id) on delete set null,
	blocked_at timestamptz not null default now(),
	primary key (user_id, provider, master_key_id, fingerprint)
);
create index blocked_key_fingerprints_key_idx on blocked_key_fingerprints (key_id);

-- Keys already switched off by an admin are blocked from now on too.
insert into blocked_key_fingerprints (user_id, provider, master_key_id, fingerprint, last4, key_id, blocked_at)
select user_id, provider, master_key_id, fingerprint, last4, id, disabled_by_admin_at
from provider_keys
where disabled_by_admin_at is not null;
