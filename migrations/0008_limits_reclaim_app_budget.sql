-- Issue 15: the reclaimer as a SQL function beside limits_admit, limits_settle and limits_release.
-- Issue 17: one daily budget for the app's key across all users and instances.

-- One daily budget for the app's key across all users and instances (APP_DAILY_BUDGET_USD, issue 17):
-- sign-up is open, so without it every new account could spend the app key's per-user allowance.
-- Held by the same exact reservations as the caps: limits_admit reserves an app-key request's worst
-- case in today's app_daily_spend row too (only while settled + reserved + it stays within the
-- budget), settle/release/reclaim move it out again. A reservation remembers whether it took from
-- the budget (counts_app_budget), so turning the budget on or off mid-day never subtracts what was
-- not added.

create table app_daily_spend (
	day date primary key,
	settled_micros bigint not null default 0 check (settled_micros >= 0),
	reserved_micros bigint not null default 0 check (reserved_micros >= 0)
);

alter table limit_reservations add column counts_app_budget boolean not null default false;

alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (
	kind in ('cap_80', 'cap_100', 'hourly_80', 'hourly_100', 'key_paused', 'key_invalid', 'app_budget_80', 'app_budget_100')
);

-- The reclaimer as a SQL function beside limits_admit, limits_settle and limits_release.
-- It was one CTE chain in application code, which needed a dummy condition to lock hour rows
-- before spend rows; inside a function the three steps are statements in order, so the lock
-- order (reservations, then hour rows, then spend rows, each sorted) is simply the order they run.
--
-- Returns the reservations of requests that never settled within p_older_than_seconds (their
-- process died), at most p_batch_size of them, and gives back their reserved tokens and money.
-- SKIP LOCKED lets every instance run it at once: each reservation is reclaimed by one of them,
-- and a request settling right now is skipped.
create function limits_reclaim(p_older_than_seconds double precision, p_batch_size integer, p_now timestamptz)
returns table (
	id uuid,
	request_id text,
	user_id uuid,
	provider text,
	key_source text,
	day text,
	amount_micros bigint,
	reserved_tokens bigint,
	created_at timestamptz
) language plpgsql as $$
#variable_conflict use_column
declare
	ts timestamptz := coalesce(p_now, now());
	ids uuid[];
begin
	with expired as (
		select r.id
		from limit_reservations r
		where r.settled_at is null and r.reclaimed_at is null
			and r.created_at < ts - p_older_than_seconds * interval '1 second'
		order by r.created_at
		limit p_batch_size
		for update of r skip locked
	),
	res as (
		update limit_reservations r
		set outcome = 'reclaimed', reclaimed_at = ts
		from expired
		where r.id = expired.id
		returning r.id
	)
	select coalesce(array_agg(res.id), '{}') into ids from res;
	if cardinality(ids) = 0 then
		return;
	end if;

	-- Hour rows, then spend rows, each locked in key order: the order admission and settlement use.
	perform 1 from limit_hourly h
	join limit_reservations x on x.user_id = h.user_id and x.provider = h.provider
		and x.key_source = h.key_source and x.window_start = h.window_start
	where x.id = any(ids) and x.reserved_tokens > 0
	order by h.user_id, h.provider, h.key_source, h.window_start
	for update of h;
	update limit_hourly h
	set reserved_tokens = h.reserved_tokens - t.tokens
	from (
		select x.user_id, x.provider, x.key_source, x.window_start, sum(x.reserved_tokens)::bigint as tokens
		from limit_reservations x
		where x.id = any(ids) and x.reserved_tokens > 0
		group by x.user_id, x.provider, x.key_source, x.window_start
	) t
	where h.user_id = t.user_id and h.provider = t.provider and h.key_source = t.key_source
		and h.window_start = t.window_start;

	perform 1 from limit_daily_spend d
	join limit_reservations x on x.user_id = d.user_id and x.provider = d.provider
		and x.key_source = d.key_source and x.day = d.day
	where x.id = any(ids)
	order by d.user_id, d.provider, d.key_source, d.day
	for update of d;
	update limit_daily_spend d
	set reserved_micros = d.reserved_micros - t.amount
	from (
		select x.user_id, x.provider, x.key_source, x.day, sum(x.amount_micros)::bigint as amount
		from limit_reservations x
		where x.id = any(ids)
		group by x.user_id, x.provider, x.key_source, x.day
	) t
	where d.user_id = t.user_id and d.provider = t.provider and d.key_source = t.key_source and d.day = t.day;

	-- Then the app budget's day rows, for reservations that took from it.
	perform 1 from app_daily_spend a
	join limit_reservations x on x.day = a.day
	where x.id = any(ids) and x.counts_app_budget
	order by a.day
	for update of a;
	update app_daily_spend a
	set reserved_micros = a.reserved_micros - t.amount
	from (
		select x.day, sum(x.amount_micros)::bigint as amount
		from limit_reservations x
		where x.id = any(ids) and x.counts_app_budget
		group by x.day
	) t
	where a.day = t.day;

	return query
		select x.id, x.request_id, x.user_id, x.provider, x.key_source, to_char(x.day, 'YYYY-MM-DD'),
			x.amount_micros, x.reserved_tokens, x.created_at
		from limit_reservations x
		where x.id = any(ids)
		order by x.created_at;
end
$$;

drop function limits_admit(uuid, text, text, bigint, bigint, text, timestamptz, integer, bigint, bigint);

-- As 0007's, plus step 2b for the app's key when a budget is set (p_app_budget_micros not null): the
-- worst case is also reserved in today's app row, only while the budget is not spent and it fits.
-- When a later step refuses, the same call gives back what the earlier steps took.
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
	p_default_daily_cap_micros bigint,
	p_app_budget_micros bigint
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
	snapshot_reserved bigint,
	app_budget_micros bigint,
	app_settled_after bigint,
	snapshot_app_settled bigint,
	snapshot_app_reserved bigint
) language plpgsql as $$
#variable_conflict use_column
declare
	r record;
	counts_budget boolean := p_key_source = 'app' and p_app_budget_micros is not null;
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
	app_take as (
		insert into app_daily_spend as a (day, settled_micros, reserved_micros)
		select win.day, 0, p_reserve_micros
		from win, spend_take
		where counts_budget and p_app_budget_micros > 0 and p_reserve_micros <= p_app_budget_micros
		on conflict (day) do update
			set reserved_micros = a.reserved_micros + excluded.reserved_micros
			where a.settled_micros < p_app_budget_micros
				and a.settled_micros + a.reserved_micros + excluded.reserved_micros <= p_app_budget_micros
		returning a.settled_micros
	),
	reservation as (
		insert into limit_reservations
			(request_id, user_id, provider, key_source, day, window_start, amount_micros, reserved_tokens, created_at,
				counts_app_budget)
		select p_request_id, p_user_id, p_provider, p_key_source, win.day, win.hour_start,
			p_reserve_micros, p_reserve_tokens, win.ts, counts_budget
		from win, spend_take
		where not counts_budget or exists (select 1 from app_take)
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
		d0.reserved_micros as snapshot_reserved,
		case when counts_budget then p_app_budget_micros end as app_budget_micros,
		(select settled_micros from app_take) as app_settled_after,
		a0.settled_micros as snapshot_app_settled,
		a0.reserved_micros as snapshot_app_reserved
	into r
	from win cross join lim
	left join limit_hourly h0
		on h0.user_id = p_user_id and h0.provider = p_provider and h0.key_source = p_key_source
		and h0.window_start = win.hour_start
	left join limit_daily_spend d0
		on d0.user_id = p_user_id and d0.provider = p_provider and d0.key_source = p_key_source
		and d0.day = win.day
	left join app_daily_spend a0 on counts_budget and a0.day = win.day;

	-- A later step refused: give back what the earlier ones took (rows this call already holds locked).
	if r.requests_after is not null and r.reservation_id is null and p_reserve_tokens > 0 then
		update limit_hourly h
		set reserved_tokens = h.reserved_tokens - p_reserve_tokens
		where h.user_id = p_user_id and h.provider = p_provider and h.key_source = p_key_source
			and h.window_start = r.hour_start;
	end if;
	if r.settled_micros is not null and r.reservation_id is null and p_reserve_micros > 0 then
		update limit_daily_spend d
		set reserved_micros = d.reserved_micros - p_reserve_micros
		where d.user_id = p_user_id and d.provider = p_provider and d.key_source = p_key_source
			and d.day = r.day::date;
	end if;

	return query select
		r.now, r.hour_start, r.day, r.requests_per_hour, r.tokens_per_hour, r.daily_cap_micros,
		r.requests_after, r.settled_micros, r.reservation_id,
		r.snapshot_requests, r.snapshot_tokens, r.snapshot_reserved_tokens, r.snapshot_settled, r.snapshot_reserved,
		r.app_budget_micros, r.app_settled_after, r.snapshot_app_settled, r.snapshot_app_reserved;
end
$$;

-- As 0007's, and a reservation that took from the app budget moves its amount out of the app row
-- (unless reclaimed) and its real cost in. Returns the app row's settled amount after it.
drop function limits_settle(uuid, bigint, bigint);
create function limits_settle(p_reservation_id uuid, p_cost_micros bigint, p_tokens bigint)
returns table (settled integer, tokens_after bigint, settled_after bigint, app_settled_after bigint)
language plpgsql as $$
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
				(r.reclaimed_at is not null) as was_reclaimed, r.counts_app_budget
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
		),
		app as (
			update app_daily_spend a
			set reserved_micros = a.reserved_micros - case when res.was_reclaimed then 0 else res.amount_micros end,
				settled_micros = a.settled_micros + p_cost_micros
			from res left join spend on true
			where res.counts_app_budget and a.day = res.day
			returning a.settled_micros
		)
		select
			(select count(*) from res)::integer as settled,
			(select tokens from hour) as tokens_after,
			(select settled_micros from spend) as settled_after,
			(select settled_micros from app) as app_settled_after;
end
$$;

-- As 0007's, and gives a budgeted reservation's amount back to the app row too.
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
				(r.reclaimed_at is not null) as was_reclaimed, r.counts_app_budget
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
		),
		app as (
			update app_daily_spend a
			set reserved_micros = a.reserved_micros - res.amount_micros
			from res left join spend on true
			where not res.was_reclaimed and res.counts_app_budget and a.day = res.day
			returning 1
		)
		select (select count(*) from res)::integer as released;
end
$$;
