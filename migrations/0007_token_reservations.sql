-- Tokens per hour by reservation, like the spending cap (issue 5: limits exact under concurrency).
-- Until now admission only checked the tokens already SETTLED this hour, so many requests admitted
-- together could pass the tokens-per-hour limit by the tokens of all of them. Now admission reserves
-- the request's worst-case tokens (prompt tokens counted with the tokenizer + max output tokens) in
-- this hour's row and admits only while tokens + reserved_tokens + this reserve <= tokens per hour;
-- settle moves the reserve out and adds the real tokens; release and the reclaimer give it back.
--
-- limits_admit gains a parameter (p_reserve_tokens), so the old function is dropped: every
-- instance must run code that passes it (docs/limits.md). Rows written before this migration have
-- reserved_tokens = 0, so settling or reclaiming them subtracts nothing.

alter table limit_hourly
	add column reserved_tokens bigint not null default 0
	constraint limit_hourly_reserved_tokens_nonnegative check (reserved_tokens >= 0);

alter table limit_reservations
	add column reserved_tokens bigint not null default 0
	constraint limit_reservations_reserved_tokens_nonnegative check (reserved_tokens >= 0);

drop function limits_admit(uuid, text, text, bigint, text, timestamptz, integer, bigint, bigint);

-- Counts one request in this UTC hour and reserves its worst-case tokens there, only while
-- requests < requests per hour, tokens settled < tokens per hour and tokens + reserved_tokens +
-- p_reserve_tokens <= tokens per hour; then reserves its worst-case cost for today (only while the
-- cap is not reached and settled + reserved + reserve <= cap); then records the reservation. Each
-- step happens only if the previous one did; a second call with the same request id fails the
-- whole call on the unique constraint (nothing changes). The snapshot_* columns tell the caller
-- which check refused, without a second round trip.
--
-- When the spending cap refuses after the hour row took the tokens, the same call gives them back
-- (one more UPDATE of the row it already holds locked, so nobody ever sees them taken): a
-- statement cannot change one row twice, so this cannot be a further step of the CTE chain. The
-- call as a whole stays atomic, and the extra statement runs only on that refusal path.
create function limits_admit(
	p_user_id uuid,
	p_provider text,
	p_key_source text,
	p_reserve_micros bigint,
	p_reserve_tokens bigint,
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
	snapshot_reserved_tokens bigint,
	snapshot_settled bigint,
	snapshot_reserved bigint
) language plpgsql as $$
#variable_conflict use_column
declare
	r record;
begin
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
		insert into limit_hourly as h (user_id, provider, key_source, window_start, requests, tokens, reserved_tokens)
		select p_user_id, p_provider, p_key_source, win.hour_start, 1, 0, p_reserve_tokens
		from win, lim
		where lim.requests_per_hour > 0 and lim.tokens_per_hour > 0 and p_reserve_tokens <= lim.tokens_per_hour
		on conflict (user_id, provider, key_source, window_start) do update
			set requests = h.requests + 1,
				reserved_tokens = h.reserved_tokens + excluded.reserved_tokens
			where h.requests < (select requests_per_hour from lim)
				and h.tokens < (select tokens_per_hour from lim)
				and h.tokens + h.reserved_tokens + excluded.reserved_tokens <= (select tokens_per_hour from lim)
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
			(request_id, user_id, provider, key_source, day, window_start, amount_micros, reserved_tokens, created_at)
		select p_request_id, p_user_id, p_provider, p_key_source, win.day, win.hour_start,
			p_reserve_micros, p_reserve_tokens, win.ts
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
		h0.reserved_tokens as snapshot_reserved_tokens,
		d0.settled_micros as snapshot_settled,
		d0.reserved_micros as snapshot_reserved
	into r
	from win cross join lim
	left join limit_hourly h0
		on h0.user_id = p_user_id and h0.provider = p_provider and h0.key_source = p_key_source
		and h0.window_start = win.hour_start
	left join limit_daily_spend d0
		on d0.user_id = p_user_id and d0.provider = p_provider and d0.key_source = p_key_source
		and d0.day = win.day;

	if r.requests_after is not null and r.reservation_id is null and p_reserve_tokens > 0 then
		update limit_hourly h
		set reserved_tokens = h.reserved_tokens - p_reserve_tokens
		where h.user_id = p_user_id and h.provider = p_provider and h.key_source = p_key_source
			and h.window_start = r.hour_start;
	end if;

	return query select
		r.now, r.hour_start, r.day, r.requests_per_hour, r.tokens_per_hour, r.daily_cap_micros,
		r.requests_after, r.settled_micros, r.reservation_id,
		r.snapshot_requests, r.snapshot_tokens, r.snapshot_reserved_tokens, r.snapshot_settled, r.snapshot_reserved;
end
$$;

-- Marks the reservation settled (only once); unless it was reclaimed meanwhile, moves its reserved
-- tokens and money out of the hour's reserved_tokens and the day's reserved_micros; adds the real
-- tokens to its admission hour and the real cost to its day (both recorded even when above the
-- reservation). `spend` joins `hour` so the hour row is locked first, as in limits_admit.
create or replace function limits_settle(p_reservation_id uuid, p_cost_micros bigint, p_tokens bigint)
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
				case when r.reclaimed_at is null then r.reserved_tokens else 0 end as held_tokens,
				(r.reclaimed_at is not null) as was_reclaimed
		),
		hour as (
			update limit_hourly h
			set tokens = h.tokens + p_tokens,
				reserved_tokens = h.reserved_tokens - res.held_tokens
			from res
			where (p_tokens > 0 or res.held_tokens > 0)
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

-- Cancels a reservation without cost (only if not yet settled): gives its tokens back to the hour
-- and its money back to the day (unless the reclaimer already did). Hour row first, as above.
create or replace function limits_release(p_reservation_id uuid)
returns table (released integer) language plpgsql as $$
#variable_conflict use_column
begin
	return query
		with
		res as (
			update limit_reservations r
			set outcome = 'released', settled_at = now(), cost_micros = 0, tokens = 0
			where r.id = p_reservation_id and r.settled_at is null
			returning r.user_id, r.provider, r.key_source, r.day, r.window_start, r.amount_micros, r.reserved_tokens,
				(r.reclaimed_at is not null) as was_reclaimed
		),
		hour as (
			update limit_hourly h
			set reserved_tokens = h.reserved_tokens - res.reserved_tokens
			from res
			where not res.was_reclaimed and res.reserved_tokens > 0
				and h.user_id = res.user_id and h.provider = res.provider and h.key_source = res.key_source
				and h.window_start = res.window_start
			returning 1
		),
		spend as (
			update limit_daily_spend d
			set reserved_micros = d.reserved_micros - res.amount_micros
			from res left join hour on true
			where not res.was_reclaimed
				and d.user_id = res.user_id and d.provider = res.provider and d.key_source = res.key_source
				and d.day = res.day
			returning 1
		)
		select (select count(*) from res)::integer as released;
end
$$;
