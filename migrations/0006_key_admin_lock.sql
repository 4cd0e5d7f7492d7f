-- A key an admin switched off (incident response) stays off: its owner cannot switch it back on,
-- only replace it with a new key (a new row, without the lock).
alter table provider_keys add column disabled_by_admin_at timestamptz;
alter table provider_keys add constraint provider_keys_admin_lock_inactive
	check (disabled_by_admin_at is null or not is_active);
