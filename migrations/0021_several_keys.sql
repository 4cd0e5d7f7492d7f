-- Several keys per provider (issue 21), tried in order: the first usable one serves; on its rate
-- limit, quota or invalidity the next one does, before any app-key fallback.
alter table provider_keys drop constraint provider_keys_one_per_provider;
alter table provider_keys add column position smallint not null default 0 check (position between 0 and 4);
-- "Always use this key": routing never goes past it, to a later key or to the app key.
alter table provider_keys add column pinned boolean not null default false;
-- Deferred, so a reorder can swap two positions in one statement.
alter table provider_keys
	add constraint provider_keys_order unique (user_id, provider, position) deferrable initially deferred;
