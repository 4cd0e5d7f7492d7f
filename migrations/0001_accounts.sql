-- Accounts, sessions and sign-in throttling (foundation).

create table users (
	id uuid primary key default gen_random_uuid(),
	email text not null,
	password_hash text not null,
	role text not null default 'user' check (role in ('user', 'admin')),
	created_at timestamptz not null default now(),
	password_changed_at timestamptz not null default now(),
	-- Emails are normalized (trimmed, lower-cased) before they get here; the check keeps it so.
	constraint users_email_normalized check (email = lower(btrim(email)) and length(email) between 3 and 254),
	constraint users_email_unique unique (email)
);

create table sessions (
	id text primary key check (length(id) = 64),
	user_id uuid not null references users (id) on delete cascade,
	expires_at timestamptz not null,
	created_at timestamptz not null default now()
);
create index sessions_user_id_idx on sessions (user_id);
create index sessions_expires_at_idx on sessions (expires_at);

-- Failed sign-ins per email and per IP in a sliding fixed window; shared by every instance.
create table auth_throttle (
	key text primary key check (length(key) <= 300),
	failures integer not null check (failures >= 0),
	window_started_at timestamptz not null
);
