-- Alerts that leave the app (issue 21): each notification is also sent to the user's webhook
-- and/or e-mail address, and to the admins' webhook (ADMIN_WEBHOOK_URL). Deliveries are rows a
-- periodic worker claims, so they survive a restart and never run on the chat path.

-- A user's channels. The webhook's signing secret must be recoverable (it signs every request),
-- so it is sealed with the vault like a provider key, never hashed and never stored in clear.
create table alert_settings (
	user_id uuid primary key references users (id) on delete cascade,
	webhook_url text check (webhook_url is null or (length(webhook_url) between 8 and 2000 and webhook_url ~ '^https?://')),
	secret_master_key_id text,
	secret_nonce bytea,
	secret_ciphertext bytea,
	email_enabled boolean not null default false,
	updated_at timestamptz not null default now(),
	-- A webhook without its secret could not be signed; the three sealed parts come together.
	constraint alert_settings_secret_whole check (
		(secret_master_key_id is null) = (secret_nonce is null)
		and (secret_nonce is null) = (secret_ciphertext is null)
	),
	constraint alert_settings_webhook_signed check (webhook_url is null or secret_ciphertext is not null)
);

-- One row per (notification, channel); a test delivery has no notification. `user_id` is null
-- for the admins' channel. The worker claims due rows by pushing next_attempt_at (a lease).
create table alert_deliveries (
	id uuid primary key default gen_random_uuid(),
	notification_id uuid references notifications (id) on delete cascade,
	user_id uuid references users (id) on delete cascade,
	channel text not null check (channel in ('webhook', 'email', 'admin_webhook')),
	status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
	attempts integer not null default 0 check (attempts between 0 and 100),
	next_attempt_at timestamptz,
	last_http_status integer,
	last_error text check (last_error is null or length(last_error) <= 500),
	created_at timestamptz not null default now(),
	delivered_at timestamptz,
	constraint alert_deliveries_owner check ((channel = 'admin_webhook') = (user_id is null)),
	constraint alert_deliveries_due check ((status = 'pending') = (next_attempt_at is not null))
);
create unique index alert_deliveries_once on alert_deliveries (notification_id, channel) where notification_id is not null;
create index alert_deliveries_due_idx on alert_deliveries (next_attempt_at) where status = 'pending';
create index alert_deliveries_user_idx on alert_deliveries (user_id, created_at desc);

-- Every try, kept for the delivery log the user sees.
create table alert_delivery_attempts (
	id bigint generated always as identity primary key,
	delivery_id uuid not null references alert_deliveries (id) on delete cascade,
	attempt integer not null check (attempt >= 1),
	attempted_at timestamptz not null default now(),
	ok boolean not null,
	http_status integer,
	error text check (error is null or length(error) <= 500),
	duration_ms integer not null check (duration_ms >= 0)
);
create index alert_delivery_attempts_delivery_idx on alert_delivery_attempts (delivery_id, attempt);

-- Every notification, however it was created, is queued for the user's channels in the same
-- transaction; `on conflict do nothing` inserts (a repeat in its window) fire nothing. The admins'
-- channel is configured in the environment, so the worker queues it (src/lib/server/alerts).
create function alert_deliveries_queue() returns trigger language plpgsql as $$
begin
	insert into alert_deliveries (notification_id, user_id, channel, next_attempt_at)
	select new.id, s.user_id, c.channel, now()
	from alert_settings s cross join (values ('webhook'), ('email')) as c (channel)
	where s.user_id = new.user_id
		and ((c.channel = 'webhook' and s.webhook_url is not null) or (c.channel = 'email' and s.email_enabled));
	return null;
end;
$$;
create trigger notifications_queue_alerts after insert on notifications
	for each row execute function alert_deliveries_queue();

-- Unusual usage (a user's last hour far above their own typical hour) is a notification too.
alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (
	kind in (
		'cap_80', 'cap_100', 'hourly_80', 'hourly_100', 'key_paused', 'key_invalid', 'app_budget_80', 'app_budget_100',
		'key_expiring', 'unusual_usage'
	)
);
