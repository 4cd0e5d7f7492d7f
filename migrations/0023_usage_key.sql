-- With several keys per provider, usage records name the key that served (own-key requests only).
alter table usage_records
	add column key_id uuid references provider_keys (id) on delete set null;
-- The keys page sums each key's requests and cost this month.
create index usage_records_key_created_idx on usage_records (key_id, created_at) where key_id is not null;
