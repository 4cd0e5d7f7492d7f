-- The reclaimer as a SQL function beside limits_admit, limits_settle and limits_release (issue 15).
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

	return query
		select x.id, x.request_id, x.user_id, x.provider, x.key_source, to_char(x.day, 'YYYY-MM-DD'),
			x.amount_micros, x.reserved_tokens, x.created_at
		from limit_reservations x
		where x.id = any(ids)
		order by x.created_at;
end
$$;
