-- Gives back what reservations older than p_older_than_seconds still hold (their request died
-- without settling), a batch at a time, skipping rows other reclaims hold. Rows lock in the order
-- admission and settlement use: hours, spend days, app days, token rows, model days, each in key
-- order. Returns the reclaimed reservations (their columns cast from the domains, 0026).

create or replace function limits_reclaim(p_older_than_seconds double precision, p_batch_size integer, p_now timestamptz)
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

	-- Then the token budgets' rows: day before month, each in key order.
	perform 1 from token_spend s
	join limit_reservations x on x.counts_token_budget and x.token_id = s.token_id
		and ((s.period = 'day' and s.period_start = x.day)
			or (s.period = 'month' and s.period_start = date_trunc('month', x.day)::date))
	where x.id = any(ids)
	order by s.token_id, s.period, s.period_start
	for update of s;
	update token_spend s
	set reserved_micros = s.reserved_micros - t.amount
	from (
		select x.token_id, p.period, p.period_start, sum(x.amount_micros)::bigint as amount
		from limit_reservations x
		cross join lateral (values ('day', x.day), ('month', date_trunc('month', x.day)::date)) as p (period, period_start)
		where x.id = any(ids) and x.counts_token_budget and x.token_id is not null
		group by x.token_id, p.period, p.period_start
	) t
	where s.token_id = t.token_id and s.period = t.period and s.period_start = t.period_start;

	-- Last the models' day rows, in key order.
	perform 1 from limit_model_spend m
	join limit_reservations x on x.counts_model_spend and x.user_id = m.user_id and x.model = m.model and x.day = m.day
	where x.id = any(ids)
	order by m.user_id, m.model, m.day
	for update of m;
	update limit_model_spend m
	set reserved_micros = m.reserved_micros - t.amount
	from (
		select x.user_id, x.model, x.day, sum(x.amount_micros)::bigint as amount
		from limit_reservations x
		where x.id = any(ids) and x.counts_model_spend
		group by x.user_id, x.model, x.day
	) t
	where m.user_id = t.user_id and m.model = t.model and m.day = t.day;

	return query
		select x.id, x.request_id::text, x.user_id, x.provider::text, x.key_source::text,
			to_char(x.day, 'YYYY-MM-DD'), x.amount_micros::bigint, x.reserved_tokens::bigint, x.created_at
		from limit_reservations x
		where x.id = any(ids)
		order by x.created_at;
end
$$;
