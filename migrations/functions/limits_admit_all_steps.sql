-- Admission with every step (migration 0022's limits_admit, renamed by 0024): the hour, today's
-- spend within the daily, weekly and monthly caps, the app key's budget, the access token's budgets
-- and the model's day row. limits_admit calls it when one of those beyond the hour and day applies.
-- Lock order: hour, spend days (ascending), app, token day, token month, model. Any refusal gives
-- back what the earlier steps took.

create or replace function limits_admit_all_steps(
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
) returns setof limits_admission language plpgsql as $$
#variable_conflict use_column
declare
	r record;
	counts_budget boolean := p_key_source = 'app' and p_app_budget_micros is not null;
	v_token_daily bigint;
	v_token_monthly bigint;
	counts_token boolean := false;
	v_model_cap bigint;
begin
	-- A token's budgets never change after it is created, so reading them first races with nothing.
	if p_token_id is not null then
		select t.daily_budget_micros, t.monthly_budget_micros into v_token_daily, v_token_monthly
		from access_tokens t where t.id = p_token_id;
		counts_token := v_token_daily is not null or v_token_monthly is not null;
	end if;
	-- A setting, read like limit_settings below (a concurrent change applies from the next request).
	if p_model is not null then
		select least(c.daily_cap_micros, c.admin_daily_cap_micros) into v_model_cap
		from limit_model_caps c where c.user_id = p_user_id and c.model = p_model;
	end if;

	with
	clock as (select coalesce(p_now, now()) as ts),
	win as (
		select ts,
			date_trunc('hour', ts at time zone 'UTC') at time zone 'UTC' as hour_start,
			(ts at time zone 'UTC')::date as day,
			date_trunc('week', ts at time zone 'UTC')::date as week,
			date_trunc('month', ts at time zone 'UTC')::date as month
		from clock
	),
	lim as (
		select
			least(s.requests_per_hour, coalesce(s.admin_requests_per_hour, p_default_requests_per_hour)) as requests_per_hour,
			least(s.tokens_per_hour, coalesce(s.admin_tokens_per_hour, p_default_tokens_per_hour)) as tokens_per_hour,
			least(s.daily_cap_micros, coalesce(s.admin_daily_cap_micros, p_default_daily_cap_micros)) as daily_cap_micros,
			least(s.weekly_cap_micros, s.admin_weekly_cap_micros) as weekly_cap_micros,
			least(s.monthly_cap_micros, s.admin_monthly_cap_micros) as monthly_cap_micros
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
	-- The earlier days of this week and month (only with such a cap), locked after the hour row and in
	-- day order, so a request admitted just before midnight and committing later is seen, not missed.
	prior_rows as (
		select d.day, d.settled_micros, d.reserved_micros
		from limit_daily_spend d, win, lim, hour_take
		where (lim.weekly_cap_micros is not null or lim.monthly_cap_micros is not null)
			and d.user_id = p_user_id and d.provider = p_provider and d.key_source = p_key_source
			and d.day >= least(win.week, win.month) and d.day < win.day
		order by d.day
		for share of d
	),
	prior as (
		select
			coalesce(sum(p.settled_micros) filter (where p.day >= win.week), 0)::bigint as week_settled,
			coalesce(sum(p.reserved_micros) filter (where p.day >= win.week), 0)::bigint as week_reserved,
			coalesce(sum(p.settled_micros) filter (where p.day >= win.month), 0)::bigint as month_settled,
			coalesce(sum(p.reserved_micros) filter (where p.day >= win.month), 0)::bigint as month_reserved
		from win left join prior_rows p on true
		group by win.week, win.month
	),
	spend_take as (
		insert into limit_daily_spend as d (user_id, provider, key_source, day, settled_micros, reserved_micros)
		select p_user_id, p_provider, p_key_source, win.day, 0, p_reserve_micros
		from win, lim, hour_take, prior
		where lim.daily_cap_micros > 0 and p_reserve_micros <= lim.daily_cap_micros
			and (lim.weekly_cap_micros is null or (prior.week_settled < lim.weekly_cap_micros
				and prior.week_settled + prior.week_reserved + p_reserve_micros <= lim.weekly_cap_micros))
			and (lim.monthly_cap_micros is null or (prior.month_settled < lim.monthly_cap_micros
				and prior.month_settled + prior.month_reserved + p_reserve_micros <= lim.monthly_cap_micros))
		on conflict (user_id, provider, key_source, day) do update
			set reserved_micros = d.reserved_micros + excluded.reserved_micros
			where d.settled_micros < (select daily_cap_micros from lim)
				and d.settled_micros + d.reserved_micros + excluded.reserved_micros <= (select daily_cap_micros from lim)
				and ((select weekly_cap_micros from lim) is null or (
					d.settled_micros + (select week_settled from prior) < (select weekly_cap_micros from lim)
					and d.settled_micros + d.reserved_micros + excluded.reserved_micros
						+ (select week_settled + week_reserved from prior) <= (select weekly_cap_micros from lim)))
				and ((select monthly_cap_micros from lim) is null or (
					d.settled_micros + (select month_settled from prior) < (select monthly_cap_micros from lim)
					and d.settled_micros + d.reserved_micros + excluded.reserved_micros
						+ (select month_settled + month_reserved from prior) <= (select monthly_cap_micros from lim)))
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
	-- What the steps so far admitted: the cap, and the app budget when it counts.
	through_app as (
		select 1 as ok from spend_take where not counts_budget or exists (select 1 from app_take)
	),
	token_day_take as (
		insert into token_spend as s (token_id, period, period_start, settled_micros, reserved_micros)
		select p_token_id, 'day', win.day, 0, p_reserve_micros
		from win, through_app
		where counts_token
			and (v_token_daily is null or (v_token_daily > 0 and p_reserve_micros <= v_token_daily))
		on conflict (token_id, period, period_start) do update
			set reserved_micros = s.reserved_micros + excluded.reserved_micros
			where v_token_daily is null or (
				s.settled_micros < v_token_daily
				and s.settled_micros + s.reserved_micros + excluded.reserved_micros <= v_token_daily
			)
		returning s.settled_micros
	),
	token_month_take as (
		insert into token_spend as s (token_id, period, period_start, settled_micros, reserved_micros)
		select p_token_id, 'month', win.month, 0, p_reserve_micros
		from win, token_day_take
		where v_token_monthly is null or (v_token_monthly > 0 and p_reserve_micros <= v_token_monthly)
		on conflict (token_id, period, period_start) do update
			set reserved_micros = s.reserved_micros + excluded.reserved_micros
			where v_token_monthly is null or (
				s.settled_micros < v_token_monthly
				and s.settled_micros + s.reserved_micros + excluded.reserved_micros <= v_token_monthly
			)
		returning s.settled_micros
	),
	-- What the steps so far admitted: also the token's budgets when they count.
	through_token as (
		select 1 as ok from through_app where not counts_token or exists (select 1 from token_month_take)
	),
	model_take as (
		insert into limit_model_spend as m (user_id, model, day, settled_micros, reserved_micros)
		select p_user_id, p_model, win.day, 0, p_reserve_micros
		from win, through_token
		where p_model is not null
			and (v_model_cap is null or (v_model_cap > 0 and p_reserve_micros <= v_model_cap))
		on conflict (user_id, model, day) do update
			set reserved_micros = m.reserved_micros + excluded.reserved_micros
			where v_model_cap is null or (
				m.settled_micros < v_model_cap
				and m.settled_micros + m.reserved_micros + excluded.reserved_micros <= v_model_cap
			)
		returning m.settled_micros
	),
	reservation as (
		insert into limit_reservations
			(request_id, user_id, provider, key_source, day, window_start, amount_micros, reserved_tokens, created_at,
				counts_app_budget, token_id, counts_token_budget, model, counts_model_spend)
		select p_request_id, p_user_id, p_provider, p_key_source, win.day, win.hour_start,
			p_reserve_micros, p_reserve_tokens, win.ts, counts_budget, p_token_id, counts_token,
			p_model, p_model is not null
		from win, through_token
		where p_model is null or exists (select 1 from model_take)
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
		a0.reserved_micros as snapshot_app_reserved,
		v_token_daily as token_daily_budget_micros,
		v_token_monthly as token_monthly_budget_micros,
		(select settled_micros from token_day_take) as token_day_settled_after,
		(select settled_micros from token_month_take) as token_month_settled_after,
		td0.settled_micros as snapshot_token_day_settled,
		td0.reserved_micros as snapshot_token_day_reserved,
		tm0.settled_micros as snapshot_token_month_settled,
		tm0.reserved_micros as snapshot_token_month_reserved,
		lim.weekly_cap_micros,
		lim.monthly_cap_micros,
		to_char(win.week, 'YYYY-MM-DD') as week_start,
		(select week_settled from prior) as prior_week_settled,
		(select week_reserved from prior) as prior_week_reserved,
		(select month_settled from prior) as prior_month_settled,
		(select month_reserved from prior) as prior_month_reserved,
		v_model_cap as model_daily_cap_micros,
		(select settled_micros from model_take) as model_settled_after,
		m0.settled_micros as snapshot_model_settled,
		m0.reserved_micros as snapshot_model_reserved
	into r
	from win cross join lim
	left join limit_hourly h0
		on h0.user_id = p_user_id and h0.provider = p_provider and h0.key_source = p_key_source
		and h0.window_start = win.hour_start
	left join limit_daily_spend d0
		on d0.user_id = p_user_id and d0.provider = p_provider and d0.key_source = p_key_source
		and d0.day = win.day
	left join app_daily_spend a0 on counts_budget and a0.day = win.day
	left join token_spend td0 on counts_token and td0.token_id = p_token_id and td0.period = 'day'
		and td0.period_start = win.day
	left join token_spend tm0 on counts_token and tm0.token_id = p_token_id and tm0.period = 'month'
		and tm0.period_start = win.month
	left join limit_model_spend m0 on m0.user_id = p_user_id and m0.model = p_model and m0.day = win.day;

	-- A later step refused: give back what the earlier ones took (rows this call already holds locked).
	if r.reservation_id is null then
		-- Which cap refused is told from the rows as they are now (a new statement sees what concurrent
		-- requests committed after this one's snapshot): today's spend row, the model's row.
		if r.requests_after is not null and r.settled_micros is null then
			select d.settled_micros, d.reserved_micros into r.snapshot_settled, r.snapshot_reserved
			from limit_daily_spend d
			where d.user_id = p_user_id and d.provider = p_provider and d.key_source = p_key_source
				and d.day = r.day::date;
		end if;
		if p_model is not null and r.model_settled_after is null then
			select m.settled_micros, m.reserved_micros into r.snapshot_model_settled, r.snapshot_model_reserved
			from limit_model_spend m
			where m.user_id = p_user_id and m.model = p_model and m.day = r.day::date;
		end if;
		if r.requests_after is not null and p_reserve_tokens > 0 then
			update limit_hourly h
			set reserved_tokens = h.reserved_tokens - p_reserve_tokens
			where h.user_id = p_user_id and h.provider = p_provider and h.key_source = p_key_source
				and h.window_start = r.hour_start;
		end if;
		if r.settled_micros is not null and p_reserve_micros > 0 then
			update limit_daily_spend d
			set reserved_micros = d.reserved_micros - p_reserve_micros
			where d.user_id = p_user_id and d.provider = p_provider and d.key_source = p_key_source
				and d.day = r.day::date;
		end if;
		if r.app_settled_after is not null and p_reserve_micros > 0 then
			update app_daily_spend a
			set reserved_micros = a.reserved_micros - p_reserve_micros
			where a.day = r.day::date;
		end if;
		if r.token_day_settled_after is not null and p_reserve_micros > 0 then
			update token_spend s
			set reserved_micros = s.reserved_micros - p_reserve_micros
			where s.token_id = p_token_id and s.period = 'day' and s.period_start = r.day::date;
		end if;
		if r.token_month_settled_after is not null and p_reserve_micros > 0 then
			update token_spend s
			set reserved_micros = s.reserved_micros - p_reserve_micros
			where s.token_id = p_token_id and s.period = 'month'
				and s.period_start = date_trunc('month', r.day::date)::date;
		end if;
	end if;

	-- The hour and day rows' counters are domains (0026); the result declares their base types.
	return query select
		r.now, r.hour_start, r.day, r.requests_per_hour, r.tokens_per_hour, r.daily_cap_micros,
		r.requests_after::integer, r.settled_micros::bigint, r.reservation_id,
		r.snapshot_requests::integer, r.snapshot_tokens::bigint, r.snapshot_reserved_tokens::bigint,
		r.snapshot_settled::bigint, r.snapshot_reserved::bigint,
		r.app_budget_micros, r.app_settled_after, r.snapshot_app_settled, r.snapshot_app_reserved,
		r.token_daily_budget_micros, r.token_monthly_budget_micros, r.token_day_settled_after,
		r.token_month_settled_after, r.snapshot_token_day_settled, r.snapshot_token_day_reserved,
		r.snapshot_token_month_settled, r.snapshot_token_month_reserved,
		r.weekly_cap_micros, r.monthly_cap_micros, r.week_start,
		r.prior_week_settled, r.prior_week_reserved, r.prior_month_settled, r.prior_month_reserved,
		r.model_daily_cap_micros, r.model_settled_after, r.snapshot_model_settled, r.snapshot_model_reserved;
end
$$;
