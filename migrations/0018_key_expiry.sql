-- Key expiry (issue 21): a key may stop serving requests at a moment its owner chose.
-- Existing keys keep no expiry.
alter table provider_keys add column expires_at timestamptz null;

-- When the owner is to be warned that the key expires soon; set with expires_at (keys/expiry.ts
-- picks the moment) and cleared once the warning is sent, so each expiry warns once.
alter table provider_keys add column expiry_warn_at timestamptz null;
alter table provider_keys add constraint provider_keys_expiry_warning check (
	expiry_warn_at is null or (expires_at is not null and expiry_warn_at < expires_at)
);
-- The warning job reads only the keys still to be warned.
create index provider_keys_expiry_warn_idx on provider_keys (expiry_warn_at) where expiry_warn_at is not null;

alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (
	kind in (
		'cap_80', 'cap_100', 'hourly_80', 'hourly_100', 'key_paused', 'key_invalid', 'key_expiring',
		'app_budget_80', 'app_budget_100'
	)
);
