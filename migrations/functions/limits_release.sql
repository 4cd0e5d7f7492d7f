-- Cancels an admitted request without cost: its reserved amount and tokens go back to the hour,
-- day, app budget, token budget and model rows it took from (unless a reclaim gave them back
-- already); it still counts against the hourly request limit. Idempotent.

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
				(r.reclaimed_at is not null) as was_reclaimed, r.counts_app_budget,
				case when r.counts_token_budget then r.token_id end as budget_token_id,
				case when r.counts_model_spend then r.model end as spend_model
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
		),
		token_day as (
			update token_spend s
			set reserved_micros = s.reserved_micros - res.amount_micros
			from res left join spend on true left join app on true
			where not res.was_reclaimed
				and s.token_id = res.budget_token_id and s.period = 'day' and s.period_start = res.day
			returning 1
		),
		token_month as (
			update token_spend s
			set reserved_micros = s.reserved_micros - res.amount_micros
			from res left join token_day on true
			where not res.was_reclaimed
				and s.token_id = res.budget_token_id and s.period = 'month'
				and s.period_start = date_trunc('month', res.day)::date
			returning 1
		),
		model_day as (
			update limit_model_spend m
			set reserved_micros = m.reserved_micros - res.amount_micros
			from res left join spend on true left join app on true left join token_month on true
			where not res.was_reclaimed
				and m.user_id = res.user_id and m.model = res.spend_model and m.day = res.day
			returning 1
		)
		select (select count(*) from res)::integer as released;
end
$$;
