-- Usage records (one per chat request, also on failure and abort), routing preferences,
-- conversations and their messages.

create table usage_records (
	id bigserial primary key,
	request_id text not null,
	-- Usage is financial history: an account with usage cannot be deleted out from under it.
	user_id uuid not null references users (id) on delete restrict,
	-- The provider of the model asked for; limits and caps are counted per this provider.
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	model text not null check (length(model) between 1 and 200),
	key_source text not null check (key_source in ('user', 'app')),
	-- Which API actually answered (a fallback to the app key is served by OpenRouter).
	served_by text check (served_by in ('openai', 'anthropic', 'google', 'openrouter')),
	api text not null check (api in ('web', 'openai')),
	success boolean not null,
	error_code text check (length(error_code) <= 100),
	fallback_reason text check (length(fallback_reason) <= 100),
	prompt_tokens integer not null default 0 check (prompt_tokens >= 0),
	completion_tokens integer not null default 0 check (completion_tokens >= 0),
	cost_micros bigint not null default 0 check (cost_micros >= 0),
	-- Tokens counted with our tokenizer because the provider reported no usage.
	estimated boolean not null default false,
	latency_ms integer check (latency_ms >= 0),
	ttft_ms integer check (ttft_ms >= 0),
	created_at timestamptz not null default now(),
	constraint usage_records_request_id_unique unique (request_id)
);
create index usage_records_user_created_idx on usage_records (user_id, created_at);
create index usage_records_created_idx on usage_records (created_at, id);

-- Per-user, per-provider routing choices. No row: fallback to the app key is allowed.
create table routing_preferences (
	user_id uuid not null references users (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	allow_fallback boolean not null default true,
	updated_at timestamptz not null default now(),
	primary key (user_id, provider)
);

create table conversations (
	id uuid primary key default gen_random_uuid(),
	user_id uuid not null references users (id) on delete cascade,
	title text not null check (length(title) between 1 and 200),
	model text not null check (length(model) between 1 and 200),
	created_at timestamptz not null default now(),
	updated_at timestamptz not null default now()
);
create index conversations_user_updated_idx on conversations (user_id, updated_at desc);

create table messages (
	id uuid primary key default gen_random_uuid(),
	conversation_id uuid not null references conversations (id) on delete cascade,
	role text not null check (role in ('user', 'assistant')),
	content text not null check (length(content) <= 200000),
	model text,
	provider text check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	key_source text check (key_source in ('user', 'app')),
	request_id text,
	prompt_tokens integer check (prompt_tokens >= 0),
	completion_tokens integer check (completion_tokens >= 0),
	cost_micros bigint check (cost_micros >= 0),
	estimated boolean,
	error_code text,
	error_message text check (length(error_message) <= 1000),
	fallback_reason text,
	created_at timestamptz not null default now()
);
create index messages_conversation_created_idx on messages (conversation_id, created_at);
