-- The single-column checks of the tables every chat writes (limit_hourly, limit_daily_spend,
-- limit_reservations, usage_records) become domains (issue 20).
--
-- PostgreSQL prepares a table's CHECK constraints again for every statement that writes the table:
-- it parses each stored expression from its text and plans it. A perf profile of admit + settle
-- put 17 % of PostgreSQL's CPU there, for expressions that never change. A domain's checks are
-- parsed and planned once per connection (the type cache) and only bound per statement. The rules
-- stay in the schema, with the same effect on every write.
--
-- Table checks still: those across two columns, and those on columns a PL/pgSQL function returns
-- with RETURN QUERY, which wants the declared types exactly (a domain is another type):
-- limit_hourly's requests, tokens and reserved_tokens and limit_daily_spend's settled_micros and
-- reserved_micros (limits_admit), limit_reservations' request_id, provider, key_source,
-- amount_micros and reserved_tokens (limits_reclaim). Moving those means redefining the functions.
--
-- The four tables are locked first, in one statement. The table checks go before the columns change
-- type (so they are not rebuilt on the way out); each domain gets its check after its columns moved
-- to it, which validates the rows already there by a scan. Nothing is rewritten.

lock table limit_hourly, limit_daily_spend, limit_reservations, usage_records in access exclusive mode;

create domain provider_name as text;
create domain key_source_name as text;
create domain nonnegative_integer as integer;
create domain nonnegative_bigint as bigint;
create domain utc_hour as timestamptz;
create domain reservation_outcome as text;
create domain model_id_text as text;
create domain short_code as text;
create domain api_name as text;

alter table limit_hourly
	drop constraint limit_hourly_key_source_check,
	drop constraint limit_hourly_provider_check,
	drop constraint limit_hourly_window_start_check;

alter table limit_daily_spend
	drop constraint limit_daily_spend_key_source_check,
	drop constraint limit_daily_spend_provider_check;

alter table limit_reservations
	drop constraint limit_reservations_cost_micros_check,
	drop constraint limit_reservations_outcome_check,
	drop constraint limit_reservations_tokens_check;

alter table usage_records
	drop constraint usage_records_api_check,
	drop constraint usage_records_cache_write_tokens_check,
	drop constraint usage_records_cached_read_tokens_check,
	drop constraint usage_records_completion_tokens_check,
	drop constraint usage_records_cost_micros_check,
	drop constraint usage_records_error_code_check,
	drop constraint usage_records_fallback_reason_check,
	drop constraint usage_records_key_source_check,
	drop constraint usage_records_latency_ms_check,
	drop constraint usage_records_model_check,
	drop constraint usage_records_prompt_tokens_check,
	drop constraint usage_records_provider_check,
	drop constraint usage_records_reasoning_tokens_check,
	drop constraint usage_records_served_by_check,
	drop constraint usage_records_ttft_ms_check;

alter table limit_hourly
	alter column provider type provider_name,
	alter column key_source type key_source_name,
	alter column window_start type utc_hour;

alter table limit_daily_spend
	alter column provider type provider_name,
	alter column key_source type key_source_name;

alter table limit_reservations
	alter column outcome type reservation_outcome,
	alter column cost_micros type nonnegative_bigint,
	alter column tokens type nonnegative_bigint;

alter table usage_records
	alter column provider type provider_name,
	alter column served_by type provider_name,
	alter column key_source type key_source_name,
	alter column api type api_name,
	alter column model type model_id_text,
	alter column error_code type short_code,
	alter column fallback_reason type short_code,
	alter column prompt_tokens type nonnegative_integer,
	alter column completion_tokens type nonnegative_integer,
	alter column cost_micros type nonnegative_bigint,
	alter column latency_ms type nonnegative_integer,
	alter column ttft_ms type nonnegative_integer,
	alter column cached_read_tokens type nonnegative_bigint,
	alter column cache_write_tokens type nonnegative_bigint,
	alter column reasoning_tokens type nonnegative_bigint;

alter domain provider_name add constraint provider_name_known
	check (value in ('openai', 'anthropic', 'google', 'openrouter'));
alter domain key_source_name add constraint key_source_name_known check (value in ('user', 'app'));
alter domain nonnegative_integer add constraint nonnegative_integer_check check (value >= 0);
alter domain nonnegative_bigint add constraint nonnegative_bigint_check check (value >= 0);
alter domain utc_hour add constraint utc_hour_whole
	check (date_trunc('hour', value at time zone 'UTC') = value at time zone 'UTC');
alter domain reservation_outcome add constraint reservation_outcome_known
	check (value in ('settled', 'released', 'reclaimed'));
alter domain model_id_text add constraint model_id_text_length check (length(value) between 1 and 200);
alter domain short_code add constraint short_code_length check (length(value) <= 100);
alter domain api_name add constraint api_name_known check (value in ('web', 'openai'));
