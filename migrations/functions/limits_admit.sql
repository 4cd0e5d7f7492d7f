-- Admits one request or tells which limit refused it (docs/limits.md). The common case (no app
-- budget, token budget, model cap, weekly or monthly cap) takes the hour's and today's rows in one
-- statement; anything more goes to limits_admit_all_steps.
--
-- Why it is shaped so (issue 20; each A/B in docs/performance.md): the settings are read first into
-- variables, so the admitting statement has no sub-queries of its own to set up; each optional check
-- is its own statement, run only when it applies, so every statement keeps one cached plan (a
-- condition PostgreSQL can fold away for some arguments made it plan the whole check again on every
-- call); the result is one variable of 0027's type limits_admission (RETURN NEXT), not one more query.

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
) returns setof limits_admission language plpgsql as $$
declare
	r limits_admission;
	v_ts timestamptz := coalesce(p_now, now());
	v_hour timestamptz;
	v_day date;
	v_requests integer;
	v_tokens bigint;
	v_cap bigint;
	v_all_steps boolean;
	v_counts_model boolean := false;
begin
	-- Settings, read like limit_settings everywhere: a concurrent change applies from the next request.
	select
		least(s.requests_per_hour, coalesce(s.admin_requests_per_hour, p_default_requests_per_hour)),
		least(s.tokens_per_hour, coalesce(s.admin_tokens_per_hour, p_default_tokens_per_hour)),
		least(s.daily_cap_micros, coalesce(s.admin_daily_cap_micros, p_default_daily_cap_micros)),
		coalesce(s.weekly_cap_micros, s.admin_weekly_cap_micros, s.monthly_cap_micros, s.admin_monthly_cap_micros) is not null
	into v_requests, v_tokens, v_cap, v_all_steps
	from (select 1) as one
	left join limit_settings s on s.user_id = p_user_id and s.provider = p_provider and s.key_source = p_key_source;
	v_all_steps := v_all_steps or (p_key_source = 'app' and p_app_budget_micros is not null);
	-- A token's budgets never change after it is created.
	if not v_all_steps and p_token_id is not null then
		v_all_steps := exists (select 1 from access_tokens t where t.id = p_token_id
			and (t.daily_budget_micros is not null or t.monthly_budget_micros is not null));
	end if;
	if p_model is not null then
		v_counts_model := exists (select 1 from limit_model_caps c where c.user_id = p_user_id and c.model = p_model);
	end if;
	if v_all_steps or v_counts_model then
		return query select * from limits_admit_all_steps(p_user_id, p_provider, p_key_source, p_reserve_micros,
			p_reserve_tokens, p_request_id, p_now, p_default_requests_per_hour, p_default_tokens_per_hour,
			p_default_daily_cap_micros, p_app_budget_micros, p_token_id, case when v_counts_model then p_model end);
		-- Without a cap the reservation still names its model, for a cap saved while it runs.
		if p_model is not null and not v_counts_model then
			update limit_reservations lr set model = p_model where lr.request_id = p_request_id and lr.model is null;
		end if;
		return;
	end if;
	v_hour := date_trunc('hour', v_ts at time zone 'UTC') at time zone 'UTC';
	v_day := (v_ts at time zone 'UTC')::date;

	with
	hour_take as (
		insert into limit_hourly as h (user_id, provider, key_source, window_start, requests, tokens, reserved_tokens)
		select p_user_id, p_provider, p_key_source, v_hour, 1, 0, p_reserve_tokens
		where v_requests > 0 and v_tokens > 0 and p_reserve_tokens <= v_tokens
		on conflict (user_id, provider, key_source, window_start) do update
			set requests = h.requests + 1, reserved_tokens = h.reserved_tokens + excluded.reserved_tokens
			where h.requests < v_requests and h.tokens < v_tokens
				and h.tokens + h.reserved_tokens + excluded.reserved_tokens <= v_tokens
		returning h.requests
	),
	spend_take as (
		insert into limit_daily_spend as d (user_id, provider, key_source, day, settled_micros, reserved_micros)
		select p_user_id, p_provider, p_key_source, v_day, 0, p_reserve_micros
		from hour_take
		where v_cap > 0 and p_reserve_micros <= v_cap
		on conflict (user_id, provider, key_source, day) do update
			set reserved_micros = d.reserved_micros + excluded.reserved_micros
			where d.settled_micros < v_cap and d.settled_micros + d.reserved_micros + excluded.reserved_micros <= v_cap
		returning d.settled_micros
	),
	reservation as (
		insert into limit_reservations
			(request_id, user_id, provider, key_source, day, window_start, amount_micros, reserved_tokens, created_at,
				counts_app_budget, token_id, counts_token_budget, model, counts_model_spend)
		select p_request_id, p_user_id, p_provider, p_key_source, v_day, v_hour,
			p_reserve_micros, p_reserve_tokens, v_ts, false, p_token_id, false, p_model, false
		from spend_take
		returning id
	)
	select (select requests from hour_take), (select settled_micros from spend_take), (select id from reservation),
		h0.requests, h0.tokens, h0.reserved_tokens, d0.settled_micros, d0.reserved_micros
	into r.requests_after, r.settled_micros, r.reservation_id,
		r.snapshot_requests, r.snapshot_tokens, r.snapshot_reserved_tokens, r.snapshot_settled, r.snapshot_reserved
	from (select 1) as one
	left join limit_hourly h0
		on h0.user_id = p_user_id and h0.provider = p_provider and h0.key_source = p_key_source and h0.window_start = v_hour
	left join limit_daily_spend d0
		on d0.user_id = p_user_id and d0.provider = p_provider and d0.key_source = p_key_source and d0.day = v_day;

	-- Today's row refused: give the hour row's reserved tokens back, and tell the cap from today's
	-- row as it is now (a new statement sees what concurrent requests committed after the snapshot).
	if r.requests_after is not null and r.settled_micros is null then
		select d.settled_micros, d.reserved_micros into r.snapshot_settled, r.snapshot_reserved
		from limit_daily_spend d
		where d.user_id = p_user_id and d.provider = p_provider and d.key_source = p_key_source and d.day = v_day;
		if p_reserve_tokens > 0 then
			update limit_hourly h set reserved_tokens = h.reserved_tokens - p_reserve_tokens
			where h.user_id = p_user_id and h.provider = p_provider and h.key_source = p_key_source
				and h.window_start = v_hour;
		end if;
	end if;
	-- The rest of the result: what this path read, and no weekly, monthly, token or model figures.
	r.now := v_ts;
	r.hour_start := v_hour;
	r.day := to_char(v_day, 'YYYY-MM-DD');
	r.requests_per_hour := v_requests;
	r.tokens_per_hour := v_tokens;
	r.daily_cap_micros := v_cap;
	r.week_start := to_char(date_trunc('week', v_day::timestamp)::date, 'YYYY-MM-DD');
	r.prior_week_settled := 0;
	r.prior_week_reserved := 0;
	r.prior_month_settled := 0;
	r.prior_month_reserved := 0;
	return next r;
end
$$;
