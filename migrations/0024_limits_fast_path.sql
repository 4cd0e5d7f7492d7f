-- Admission and settlement in less work (issue 20).
--
-- limits_admit: the common case (no app budget, token budget, model cap, weekly or monthly cap)
-- runs a short statement of the hour and today's rows only; the rest goes to 0022's function, kept
-- whole under the name limits_admit_all_steps, which sets up every step's insert (and its check
-- constraints) on every call even when the step takes nothing: that was most of an admission's
-- cost. The model's day row (limit_model_spend) is reserved in only when the user has a cap for
-- that model: 0022's function gets the model only then, and the reservation is given its model's
-- name afterwards, so saving a cap (limits/model-caps.ts) can count the day so far.
--
-- limits_settle: the same updates in the same lock order (reservation, hour, day, app, token day,
-- token month, model), each its own statement run only when it applies. A reservation that did not
-- count its model's spend, settled while that model has a cap, counts its cost now: it was admitted
-- in the instant the cap was saved, after the cap's count of the day.

alter function limits_admit(uuid, text, text, bigint, bigint, text, timestamptz, integer, bigint, bigint, bigint, uuid, text)
	rename to limits_admit_all_steps;

create or replace function limits_admit(
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
	p_app_budget_micros bigint,
	p_token_id uuid,
	p_model text
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
	snapshot_app_reserved bigint,
	token_daily_budget_micros bigint,
	token_monthly_budget_micros bigint,
	token_day_settled_after bigint,
	token_month_settled_after bigint,
	snapshot_token_day_settled bigint,
	snapshot_token_day_reserved bigint,
	snapshot_token_month_settled bigint,
	snapshot_token_month_reserved bigint,
	weekly_cap_micros bigint,
	monthly_cap_micros bigint,
	week_start text,
	prior_week_settled bigint,
	prior_week_reserved bigint,
	prior_month_settled bigint,
	prior_month_reserved bigint,
	model_daily_cap_micros bigint,
	model_settled_after bigint,
	snapshot_model_settled bigint,
	snapshot_model_reserved bigint
) language plpgsql as $$
#variable_conflict use_column
declare
	r record;
	counts_model boolean := false;
begin
	-- Settings, read like limit_settings in the statements (a concurrent change applies from the
	-- next request); a token's budgets never change after it is created.
	if p_model is not null then
		counts_model := exists (select 1 from limit_model_caps c where c.user_id = p_user_id and c.model = p_model);
	end if;
	if (p_key_source = 'app' and p_app_budget_micros is not null) or counts_model or exists (
		select 1 from access_tokens t
		where t.id = p_token_id and (t.daily_budget_micros is not null or t.monthly_budget_micros is not null)
	) or exists (
		select 1 from limit_settings s
		where s.user_id = p_user_id and s.provider = p_provider and s.key_source = p_key_source
			and coalesce(s.weekly_cap_micros, s.admin_weekly_cap_micros, s.monthly_cap_micros,
				s.admin_monthly_cap_micros) is not null
	) then
		return query select * from limits_admit_all_steps(p_user_id, p_provider, p_key_source, p_reserve_micros,
			p_reserve_tokens, p_request_id, p_now, p_default_requests_per_hour, p_default_tokens_per_hour,
			p_default_daily_cap_micros, p_app_budget_micros, p_token_id, case when counts_model then p_model end);
		-- Without a cap the reservation still names its model, for a cap saved while it runs.
		if p_model is not null and not counts_model then
			update limit_reservations lr set model = p_model where lr.request_id = p_request_id and lr.model is null;
		end if;
		return;
	end if;

	-- The common case: only the hour and today's rows.
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
			(request_id, user_id, provider, key_source, day, window_start, amount_micros, reserved_tokens, created_at,
				counts_app_budget, token_id, counts_token_budget, model, counts_model_spend)
		select p_request_id, p_user_id, p_provider, p_key_source, win.day, win.hour_start,
			p_reserve_micros, p_reserve_tokens, win.ts, false, p_token_id, false, p_model, false
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
		d0.reserved_micros as snapshot_reserved,
		null::bigint as app_budget_micros,
		null::bigint as app_settled_after,
		null::bigint as snapshot_app_settled,
		null::bigint as snapshot_app_reserved,
		null::bigint as token_daily_budget_micros,
		null::bigint as token_monthly_budget_micros,
		null::bigint as token_day_settled_after,
		null::bigint as token_month_settled_after,
		null::bigint as snapshot_token_day_settled,
		null::bigint as snapshot_token_day_reserved,
		null::bigint as snapshot_token_month_settled,
		null::bigint as snapshot_token_month_reserved,
		null::bigint as weekly_cap_micros,
		null::bigint as monthly_cap_micros,
		to_char(date_trunc('week', win.ts at time zone 'UTC')::date, 'YYYY-MM-DD') as week_start,
		0::bigint as prior_week_settled,
		0::bigint as prior_week_reserved,
		0::bigint as prior_month_settled,
		0::bigint as prior_month_reserved,
		null::bigint as model_daily_cap_micros,
		null::bigint as model_settled_after,
		null::bigint as snapshot_model_settled,
		null::bigint as snapshot_model_reserved
	into r
	from win cross join lim
	left join limit_hourly h0
		on h0.user_id = p_user_id and h0.provider = p_provider and h0.key_source = p_key_source
		and h0.window_start = win.hour_start
	left join limit_daily_spend d0
		on d0.user_id = p_user_id and d0.provider = p_provider and d0.key_source = p_key_source
		and d0.day = win.day;

	-- Today's row refused: give the hour row's reserved tokens back, and tell the cap from today's
	-- row as it is now (a new statement sees what concurrent requests committed after the snapshot).
	if r.requests_after is not null and r.settled_micros is null then
		select d.settled_micros, d.reserved_micros into r.snapshot_settled, r.snapshot_reserved
		from limit_daily_spend d
		where d.user_id = p_user_id and d.provider = p_provider and d.key_source = p_key_source
			and d.day = r.day::date;
		if p_reserve_tokens > 0 then
			update limit_hourly h
			set reserved_tokens = h.reserved_tokens - p_reserve_tokens
			where h.user_id = p_user_id and h.provider = p_provider and h.key_source = p_key_source
				and h.window_start = r.hour_start;
		end if;
	end if;

	return query select
		r.now, r.hour_start, r.day, r.requests_per_hour, r.tokens_per_hour, r.daily_cap_micros,
		r.requests_after, r.settled_micros, r.reservation_id,
		r.snapshot_requests, r.snapshot_tokens, r.snapshot_reserved_tokens, r.snapshot_settled, r.snapshot_reserved,
		r.app_budget_micros, r.app_settled_after, r.snapshot_app_settled, r.snapshot_app_reserved,
		r.token_daily_budget_micros, r.token_monthly_budget_micros, r.token_day_settled_after,
		r.token_month_settled_after, r.snapshot_token_day_settled, r.snapshot_token_day_reserved,
		r.snapshot_token_month_settled, r.snapshot_token_month_reserved,
		r.weekly_cap_micros, r.monthly_cap_micros, r.week_start,
		r.prior_week_settled, r.prior_week_reserved, r.prior_month_settled, r.prior_month_reserved,
		r.model_daily_cap_micros, r.model_settled_after, r.snapshot_model_settled, r.snapshot_model_reserved;
end
$$;

create or replace function limits_settle(p_reservation_id uuid, p_cost_micros bigint, p_tokens bigint)
returns table (settled integer, tokens_after bigint, settled_after bigint, app_settled_after bigint,
	model_settled_after bigint)
language plpgsql as $$
#variable_conflict use_column
declare
	res record;
	v_out bigint;
	v_tokens_after bigint;
	v_settled_after bigint;
	v_app_after bigint;
	v_model_after bigint;
begin
	update limit_reservations r
	set outcome = 'settled', settled_at = now(), cost_micros = p_cost_micros, tokens = p_tokens
	where r.id = p_reservation_id and r.settled_at is null
	returning r.user_id, r.provider, r.key_source, r.day, r.window_start, r.amount_micros,
		case when r.reclaimed_at is null then r.reserved_tokens else 0 end as held_tokens,
		(r.reclaimed_at is not null) as was_reclaimed, r.counts_app_budget,
		case when r.counts_token_budget then r.token_id end as budget_token_id,
		case when r.counts_model_spend then r.model end as spend_model,
		case when not r.counts_model_spend then r.model end as uncounted_model
	into res;
	if not found then
		return query select 0, null::bigint, null::bigint, null::bigint, null::bigint;
		return;
	end if;
	-- What leaves the reserved amounts: nothing when a reclaim gave it back already.
	v_out := case when res.was_reclaimed then 0 else res.amount_micros end;

	if p_tokens > 0 or res.held_tokens > 0 then
		update limit_hourly h
		set tokens = h.tokens + p_tokens, reserved_tokens = h.reserved_tokens - res.held_tokens
		where h.user_id = res.user_id and h.provider = res.provider and h.key_source = res.key_source
			and h.window_start = res.window_start
		returning h.tokens into v_tokens_after;
	end if;

	update limit_daily_spend d
	set reserved_micros = d.reserved_micros - v_out, settled_micros = d.settled_micros + p_cost_micros
	where d.user_id = res.user_id and d.provider = res.provider and d.key_source = res.key_source
		and d.day = res.day
	returning d.settled_micros into v_settled_after;

	if res.counts_app_budget then
		update app_daily_spend a
		set reserved_micros = a.reserved_micros - v_out, settled_micros = a.settled_micros + p_cost_micros
		where a.day = res.day
		returning a.settled_micros into v_app_after;
	end if;

	if res.budget_token_id is not null then
		update token_spend s
		set reserved_micros = s.reserved_micros - v_out, settled_micros = s.settled_micros + p_cost_micros
		where s.token_id = res.budget_token_id and s.period = 'day' and s.period_start = res.day;
		update token_spend s
		set reserved_micros = s.reserved_micros - v_out, settled_micros = s.settled_micros + p_cost_micros
		where s.token_id = res.budget_token_id and s.period = 'month'
			and s.period_start = date_trunc('month', res.day)::date;
	end if;

	if res.spend_model is not null then
		update limit_model_spend m
		set reserved_micros = m.reserved_micros - v_out, settled_micros = m.settled_micros + p_cost_micros
		where m.user_id = res.user_id and m.model = res.spend_model and m.day = res.day
		returning m.settled_micros into v_model_after;
	elsif res.uncounted_model is not null and exists (
		select 1 from limit_model_caps c where c.user_id = res.user_id and c.model = res.uncounted_model
	) then
		-- Admitted while the model's cap was being saved (after that count's snapshot): its cost
		-- counts now. Nothing of it was reserved in the model's row.
		update limit_reservations r set counts_model_spend = true where r.id = p_reservation_id;
		insert into limit_model_spend as m (user_id, model, day, settled_micros, reserved_micros)
		values (res.user_id, res.uncounted_model, res.day, p_cost_micros, 0)
		on conflict (user_id, model, day) do update set settled_micros = m.settled_micros + p_cost_micros
		returning m.settled_micros into v_model_after;
	end if;

	return query select 1, v_tokens_after, v_settled_after, v_app_after, v_model_after;
end
$$;
