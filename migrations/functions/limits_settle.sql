-- Records the real cost and tokens of an admitted request, even above its reservation or after a
-- reclaim: usage is never dropped. The same updates in the same lock order as admission (reservation,
-- hour, day, app, token day, token month, model), each its own statement run only when it applies.
-- A reservation that did not count its model's spend, settled while that model has a cap, counts its
-- cost now: it was admitted in the instant the cap was saved, after the cap's count of the day.
-- Returns whether it settled (0: settled or released before) and each counter after, for the
-- notifications; the result is the function's own variables (RETURN NEXT), not one more query.

create or replace function limits_settle(p_reservation_id uuid, p_cost_micros bigint, p_tokens bigint)
returns table (settled integer, tokens_after bigint, settled_after bigint, app_settled_after bigint,
	model_settled_after bigint)
language plpgsql as $$
#variable_conflict use_column
declare
	res record;
	v_out bigint;
begin
	settled := 0;
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
		return next;
		return;
	end if;
	settled := 1;
	-- What leaves the reserved amounts: nothing when a reclaim gave it back already.
	v_out := case when res.was_reclaimed then 0 else res.amount_micros end;

	if p_tokens > 0 or res.held_tokens > 0 then
		update limit_hourly h
		set tokens = h.tokens + p_tokens, reserved_tokens = h.reserved_tokens - res.held_tokens
		where h.user_id = res.user_id and h.provider = res.provider and h.key_source = res.key_source
			and h.window_start = res.window_start
		returning h.tokens into tokens_after;
	end if;

	update limit_daily_spend d
	set reserved_micros = d.reserved_micros - v_out, settled_micros = d.settled_micros + p_cost_micros
	where d.user_id = res.user_id and d.provider = res.provider and d.key_source = res.key_source
		and d.day = res.day
	returning d.settled_micros into settled_after;

	if res.counts_app_budget then
		update app_daily_spend a
		set reserved_micros = a.reserved_micros - v_out, settled_micros = a.settled_micros + p_cost_micros
		where a.day = res.day
		returning a.settled_micros into app_settled_after;
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
		returning m.settled_micros into model_settled_after;
	elsif res.uncounted_model is not null and exists (
		select 1 from limit_model_caps c where c.user_id = res.user_id and c.model = res.uncounted_model
	) then
		-- Admitted while the model's cap was being saved (after that count's snapshot): its cost
		-- counts now. Nothing of it was reserved in the model's row.
		update limit_reservations r set counts_model_spend = true where r.id = p_reservation_id;
		insert into limit_model_spend as m (user_id, model, day, settled_micros, reserved_micros)
		values (res.user_id, res.uncounted_model, res.day, p_cost_micros, 0)
		on conflict (user_id, model, day) do update set settled_micros = m.settled_micros + p_cost_micros
		returning m.settled_micros into model_settled_after;
	end if;

	return next;
end
$$;
