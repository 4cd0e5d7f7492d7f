-- Model lists as the providers gave them: one per user key (what that key may use; its check reads
-- the provider's list) and one for the app (OpenRouter's public list). A list is replaced only by
-- a newer good one, so a provider that is down keeps its last list.
create table model_lists (
	id bigint generated always as identity primary key,
	key_id uuid null references provider_keys (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	models jsonb not null check (jsonb_typeof(models) = 'array'),
	fetched_at timestamptz not null default now(),
	-- The app's only list is OpenRouter's.
	constraint model_lists_app_is_openrouter check (key_id is not null or provider = 'openrouter')
);
create unique index model_lists_one_per_key on model_lists (key_id) where key_id is not null;
create unique index model_lists_one_per_app_provider on model_lists (provider) where key_id is null;

-- Which models the app key may serve (the app pays for them): the first matching rule wins; no
-- rule matching means allowed. Patterns are public model ids with * wildcards.
create table app_model_rules (
	position integer primary key check (position >= 0 and position < 200),
	effect text not null check (effect in ('allow', 'deny')),
	pattern text not null check (pattern ~ '^[A-Za-z0-9*._:/-]{1,200}$'),
	updated_at timestamptz not null default now(),
	updated_by uuid null references users (id) on delete set null
);
