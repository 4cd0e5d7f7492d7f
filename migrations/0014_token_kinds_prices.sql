-- Cost to the cached token (issue 18): usage records keep the kinds of tokens the provider
-- reported, as parts of the totals, and whether the cost is known.
alter table usage_records
	add column cached_read_tokens bigint not null default 0 check (cached_read_tokens >= 0),
	add column cache_write_tokens bigint not null default 0 check (cache_write_tokens >= 0),
	add column reasoning_tokens bigint not null default 0 check (reasoning_tokens >= 0),
	-- false: the model had no known price; cost_micros is 0 and caps counted requests and tokens only.
	add column cost_known boolean not null default true,
	add constraint usage_records_cache_within_prompt check (cached_read_tokens + cache_write_tokens <= prompt_tokens),
	add constraint usage_records_reasoning_within_completion check (reasoning_tokens <= completion_tokens),
	add constraint usage_records_unknown_cost_is_zero check (cost_known or cost_micros = 0);

-- An admin's price for a model, winning over the price library and OpenRouter's list. Rates are
-- integer micro-dollars per million tokens.
create table price_overrides (
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	provider_model text not null check (length(provider_model) between 1 and 200),
	input_micros_per_mtok bigint not null check (input_micros_per_mtok >= 0),
	output_micros_per_mtok bigint not null check (output_micros_per_mtok >= 0),
	cache_read_micros_per_mtok bigint null check (cache_read_micros_per_mtok >= 0),
	cache_write_micros_per_mtok bigint null check (cache_write_micros_per_mtok >= 0),
	updated_at timestamptz not null default now(),
	updated_by uuid null references users (id) on delete set null,
	primary key (provider, provider_model)
);
