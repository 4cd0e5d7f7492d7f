-- The single-column checks 0025 left on the tables every admission writes become domains too
-- (issue 20): limit_hourly's counters, limit_daily_spend's amounts, and limit_reservations' request
-- id, provider, key source, amount and reserved tokens. PostgreSQL prepares a table's CHECK
-- expressions again for every statement that writes the table; a domain's once per connection.
--
-- 0025 kept them because the limits functions returned these columns with RETURN QUERY, which wants
-- the declared types exactly. The functions now live in migrations/functions/, one file each, and
-- the migrator defines them anew in the same transaction as this migration, with the casts they
-- need: every call made after it commits runs the new functions on the new columns.
--
-- Unlike 0025, the domains have their checks already, so PostgreSQL rewrites the three tables and
-- their indexes (3.4 s for a million reservations in one run; docs/operations.md). The tables are
-- locked first, in one statement, and the table checks go before the columns change type.

lock table limit_hourly, limit_daily_spend, limit_reservations in access exclusive mode;

create domain request_id_text as text;

alter table limit_hourly
	drop constraint limit_hourly_requests_check,
	drop constraint limit_hourly_tokens_check,
	drop constraint limit_hourly_reserved_tokens_nonnegative;

alter table limit_daily_spend
	drop constraint limit_daily_spend_settled_micros_check,
	drop constraint limit_daily_spend_reserved_micros_check;

alter table limit_reservations
	drop constraint limit_reservations_request_id_check,
	drop constraint limit_reservations_provider_check,
	drop constraint limit_reservations_key_source_check,
	drop constraint limit_reservations_amount_micros_check,
	drop constraint limit_reservations_reserved_tokens_nonnegative;

alter table limit_hourly
	alter column requests type nonnegative_integer,
	alter column tokens type nonnegative_bigint,
	alter column reserved_tokens type nonnegative_bigint;

alter table limit_daily_spend
	alter column settled_micros type nonnegative_bigint,
	alter column reserved_micros type nonnegative_bigint;

alter table limit_reservations
	alter column request_id type request_id_text,
	alter column provider type provider_name,
	alter column key_source type key_source_name,
	alter column amount_micros type nonnegative_bigint,
	alter column reserved_tokens type nonnegative_bigint;

alter domain request_id_text add constraint request_id_text_length check (length(value) between 1 and 200);
