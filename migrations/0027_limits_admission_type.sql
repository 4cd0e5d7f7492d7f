-- The row an admission returns, declared once: limits_admit and limits_admit_all_steps
-- (migrations/functions/) both return `setof limits_admission` instead of repeating the same
-- 37-column `returns table (...)`. A function's result type cannot change in place, so the old
-- functions go here; the migrator defines the new ones from their files in the same transaction.
-- What each column means: AdmitRow in src/lib/server/limits/admit.ts.

create type limits_admission as (
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
);

drop function limits_admit(uuid, text, text, bigint, bigint, text, timestamptz, integer, bigint, bigint, bigint, uuid, text);
drop function limits_admit_all_steps(uuid, text, text, bigint, bigint, text, timestamptz, integer, bigint, bigint, bigint, uuid, text);
