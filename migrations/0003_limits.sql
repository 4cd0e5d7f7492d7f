-- Rate limits, spending caps (by reservation) and notifications.
-- Windows are UTC: an hour starts at hh:00:00Z, a day at 00:00:00Z. All money is integer
-- micro-dollars. Every admission and settlement is one statement over these tables (see
-- src/lib/server/limits/counters.ts), so several app instances sharing this database stay exact.

-- Per user, provider and key source ('user' = the user's own key, 'app' = the app's key): the
-- user's own (lower) settings and the admin's ceilings. NULL means "not set": the effective value
-- is least(user value, admin ceiling, or the configured default when no ceiling is set).
create table limit_settings (
	user_id uuid not null references users (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	key_source text not null check (key_source in ('user', 'app')),
	requests_per_hour integer check (requests_per_hour >= 0),
	tokens_per_hour bigint check (tokens_per_hour >= 0),
	daily_cap_micros bigint check (daily_cap_micros >= 0),
	admin_requests_per_hour integer check (admin_requests_per_hour >= 0),
	admin_tokens_per_hour bigint check (admin_tokens_per_hour >= 0),
	admin_daily_cap_micros bigint check (admin_daily_cap_micros >= 0),
	updated_at timestamptz not null default now(),
	primary key (user_id, provider, key_source)
);

-- Requests admitted and tokens settled per UTC hour.
create table limit_hourly (
	user_id uuid not null references users (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	key_source text not null check (key_source in ('user', 'app')),
	window_start timestamptz not null check (date_trunc('hour', window_start at time zone 'UTC') = window_start at time zone 'UTC'),
	requests integer not null default 0 check (requests >= 0),
	tokens bigint not null default 0 check (tokens >= 0),
	primary key (user_id, provider, key_source, window_start)
);

-- Money per UTC day: settled (real cost of finished requests) and reserved (worst case of requests
-- still running). Admission adds to reserved only while settled + reserved + the new worst case
-- stays within the cap.
create table limit_daily_spend (
	user_id uuid not null references users (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	key_source text not null check (key_source in ('user', 'app')),
	day date not null,
	settled_micros bigint not null default 0 check (settled_micros >= 0),
	reserved_micros bigint not null default 0 check (reserved_micros >= 0),
	primary key (user_id, provider, key_source, day)
);

-- One row per admitted request. outcome: NULL while running; 'settled' (real cost recorded),
-- 'released' (cancelled before any cost) or 'reclaimed' (never settled within the timeout; its
-- reservation was returned). A late settle of a reclaimed request still records its real cost.
-- Deliberately no index on user_id: every extra index costs each admission and settlement, and the
-- only reader by user is the rare cascade when a user is deleted (rows are pruned after 35 days).
create table limit_reservations (
	id uuid primary key default gen_random_uuid(),
	request_id text not null check (length(request_id) between 1 and 200),
	user_id uuid not null references users (id) on delete cascade,
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	key_source text not null check (key_source in ('user', 'app')),
	day date not null,
	window_start timestamptz not null,
	amount_micros bigint not null check (amount_micros >= 0),
	created_at timestamptz not null default now(),
	outcome text check (outcome in ('settled', 'released', 'reclaimed')),
	settled_at timestamptz,
	reclaimed_at timestamptz,
	cost_micros bigint check (cost_micros >= 0),
	tokens bigint check (tokens >= 0),
	constraint limit_reservations_request_id_unique unique (request_id),
	constraint limit_reservations_outcome_consistent check (
		(outcome is null and settled_at is null and reclaimed_at is null)
		or (outcome in ('settled', 'released') and settled_at is not null)
		or (outcome = 'reclaimed' and settled_at is null and reclaimed_at is not null)
	)
);
-- The reclaimer scans only open reservations, oldest first.
create index limit_reservations_open_idx on limit_reservations (created_at)
	where settled_at is null and reclaimed_at is null;

-- The hot path: admit, settle and release, each ONE statement (a data-modifying CTE chain, so
-- each is atomic and takes its row locks in the order hour row -> spend row). They live in
-- PL/pgSQL functions only so that PostgreSQL caches their plans per connection: planning these
-- CTE chains cost more than executing them (bench/limits.ts; docs/limits.md).

-- Counts one request in this UTC hour (only while under both hourly limits), then reserves its
-- worst case for today (only while the cap is not reached and settled + reserved + reserve <= cap),
-- then records the reservation. Each step happens only if the previous one did. A second call with
-- the same request id fails the whole statement on the unique constraint (nothing changes). The
-- snapshot_* columns tell the caller which check refused, without a second round trip.
create function limits_admit(
	p_user_id uuid,
	p_provider text,
	p_key_source text,
	p_reserve_micros bigint,
	p_request_id text,
	p_now timestamptz,
	p_default_requests_per_hour integer,
	p_default_tokens_per_hour bigint,
	p_default_daily_cap_micros bigint
) returns table (
	now timestamptz,
	hour_start timestamptz,
	day text,
	requests_per_hour integer,
	tokens_per_hour bigint,
	daily_cap_micros bigint,
	requests_after integer,
	settled_micros bigint,
	reservation_id uuid,
	snapshot_requests integer,
	snapshot_tokens bigint,
	snapshot_settled bigint,
	snapshot_reserved bigint
) language plpgsql as $$
#variable_conflict use_column
begin
	return query
		with
		clock as (select coalesce(p_now, now()) as ts),
		win as (
			select ts,
				date_trunc('hour', ts at time zone 'UTC') at time zone 'UTC' as hour_start,
				(ts at time zone 'UTC')::date as day
			from clock
		),
		lim as (
			select
				least(s.requests_per_hour, coalesce(s.admin_requests_per_hour, p_default_requests_per_hour)) as requests_per_hour,
				least(s.tokens_per_hour, coalesce(s.admin_tokens_per_hour, p_default_tokens_per_hour)) as tokens_per_hour,
				least(s.daily_cap_micros, coalesce(s.admin_daily_cap_micros, p_default_daily_cap_micros)) as daily_cap_micros
			from (select 1) as one
			left join limit_settings s
				on s.user_id = p_user_id and s.provider = p_provider and s.key_source = p_key_source
		),
		hour_take as (
			insert into limit_hourly as h (user_id, provider, key_source, window_start, requests, tokens)
			select p_user_id, p_provider, p_key_source, win.hour_start, 1, 0
			from win, lim
			where lim.requests_per_hour > 0 and lim.tokens_per_hour > 0
			on conflict (user_id, provider, key_source, window_start) do update
				set requests = h.requests + 1
				where h.requests < (select requests_per_hour from lim)
					and h.tokens < (select tokens_per_hour from lim)
			returning h.requests
		),
		spend_take as (
			insert into limit_daily_spend as d (user_id, provider, key_source, day, settled_micros, reserved_micros)
			select p_user_id, p_provider, p_key_source, win.day, 0, p_reserve_micros
			from win, lim, hour_take
			where lim.daily_cap_micros > 0 and p_reserve_micros <= lim.daily_cap_micros
			on conflict (user_id, provider, key_source, day) do update
				set reserved_micros = d.reserved_micros + excluded.reserved_micros
				where d.settled_micros < (select daily_cap_micros from lim)
					and d.settled_micros + d.reserved_micros + excluded.reserved_micros <= (select daily_cap_micros from lim)
			returning d.settled_micros
		),
		reservation as (
			insert into limit_reservations
				(request_id, user_id, provider, key_source, day, window_start, amount_micros, created_at)
			select p_request_id, p_user_id, p_provider, p_key_source, win.day, win.hour_start,
				p_reserve_micros, win.ts
			from win, spend_take
			returning id
		)
		select
			win.ts as now,
			win.hour_start,
			to_char(win.day, 'YYYY-MM-DD') as day,
			lim.requests_per_hour,
			lim.tokens_per_hour,
			lim.daily_cap_micros,
			(select requests from hour_take) as requests_after,
			(select settled_micros from spend_take) as settled_micros,
			(select id from reservation) as reservation_id,
			h0.requests as snapshot_requests,
			h0.tokens as snapshot_tokens,
			d0.settled_micros as snapshot_settled,
			d0.reserved_micros as snapshot_reserved
		from win cross join lim
		left join limit_hourly h0
			on h0.user_id = p_user_id and h0.provider = p_provider and h0.key_source = p_key_source
			and h0.window_start = win.hour_start
		left join limit_daily_spend d0
			on d0.user_id = p_user_id and d0.provider = p_provider and d0.key_source = p_key_source
			and d0.day = win.day;
end
$$;

-- Marks the reservation settled (only once), moves its amount out of reserved (unless it was
-- reclaimed meanwhile) and adds the real cost and tokens. `spend` joins `hour` so the hour row is
-- locked first, as in limits_admit.
create function limits_settle(p_reservation_id uuid, p_cost_micros bigint, p_tokens bigint)
returns table (settled integer, tokens_after bigint, settled_after bigint) language plpgsql as $$
#variable_conflict use_column
begin
	return query
		with
		res as (
			update limit_reservations r
			set outcome = 'settled', settled_at = now(), cost_micros = p_cost_micros,
				tokens = p_tokens
			where r.id = p_reservation_id and r.settled_at is null
			returning r.user_id, r.provider, r.key_source, r.day, r.window_start, r.amount_micros,
				(r.reclaimed_at is not null) as was_reclaimed
		),
		hour as (
			update limit_hourly h
			set tokens = h.tokens + p_tokens
			from res
			where p_tokens > 0
				and h.user_id = res.user_id and h.provider = res.provider and h.key_source = res.key_source
				and h.window_start = res.window_start
			returning h.tokens
		),
		spend as (
			update limit_daily_spend d
			set reserved_micros = d.reserved_micros - case when res.was_reclaimed then 0 else res.amount_micros end,
				settled_micros = d.settled_micros + p_cost_micros
			from res left join hour on true
			where d.user_id = res.user_id and d.provider = res.provider and d.key_source = res.key_source
				and d.day = res.day
			returning d.settled_micros
		)
		select
			(select count(*) from res)::integer as settled,
			(select tokens from hour) as tokens_after,
			(select settled_micros from spend) as settled_after;
end
$$;

-- Cancels a reservation without cost (only if not yet settled).
create function limits_release(p_reservation_id uuid)
returns table (released integer) language plpgsql as $$
#variable_conflict use_column
begin
	return query
		with
		res as (
			update limit_reservations r
			set outcome = 'released', settled_at = now(), cost_micros = 0, tokens = 0
			where r.id = p_reservation_id and r.settled_at is null
			returning r.user_id, r.provider, r.key_source, r.day, r.amount_micros, (r.reclaimed_at is not null) as was_reclaimed
		),
		spend as (
			update limit_daily_spend d
			set reserved_micros = d.reserved_micros - res.amount_micros
			from res
			where not res.was_reclaimed
				and d.user_id = res.user_id and d.provider = res.provider and d.key_source = res.key_source
				and d.day = res.day
			returning 1
		)
		select (select count(*) from res)::integer as released;
end
$$;

-- What the UI shows in its notification list. The unique key makes "send once per window" an
-- `insert ... on conflict do nothing`; window_key names the limit and its window, e.g.
-- 'daily_cap:2026-03-05' or 'requests_per_hour:2026-03-05T14:00Z'.
create table notifications (
	id uuid primary key default gen_random_uuid(),
	user_id uuid not null references users (id) on delete cascade,
	kind text not null check (kind in ('cap_80', 'cap_100', 'hourly_80', 'hourly_100', 'key_paused', 'key_invalid')),
	provider text not null check (provider in ('openai', 'anthropic', 'google', 'openrouter')),
	key_source text not null check (key_source in ('user', 'app')),
	window_key text not null check (length(window_key) between 1 and 200),
	message text not null check (length(message) between 1 and 1000),
	created_at timestamptz not null default now(),
	read_at timestamptz,
	constraint notifications_once_per_window unique (user_id, kind, provider, key_source, window_key)
);
create index notifications_user_created_idx on notifications (user_id, created_at desc);
