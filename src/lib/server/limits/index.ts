/**
 * Rate limits and daily spending caps per user, provider and key source, exact under concurrency
 * and across instances sharing one PostgreSQL (every check is one atomic statement). The routing
 * engine calls `admit` before a provider call and `settle` (or `release`) after it; each instance
 * runs `startLimitsMaintenance` (reclaims reservations of dead requests). See docs/limits.md.
 */
export { admit, admitCall, admissionOf, type AdmitRow } from './admit';
export { settle, settleCall, settlementOf, release, releaseRequest, type SettleResult, type SettleRow } from './settle';
export { LimitRefusal } from './refusals';
export { appBudgetToday, type AppBudgetToday } from './app-budget';
export {
	reclaimExpiredReservations,
	pruneLimitHistory,
	DEFAULT_RECLAIM_AFTER_SECONDS,
	type ReclaimOptions,
	type PruneResult
} from './reclaim';
export { getEffectiveLimits, getLimitValues } from './settings';
export { setUserLimits, setAdminLimits, type AdminLimitsChange, type AdminActor } from './set-limits';
export {
	setLimitsInput,
	adminSetLimitsInput,
	MAX_REQUESTS_PER_HOUR,
	MAX_TOKENS_PER_HOUR,
	MAX_DAILY_CAP_USD,
	MAX_PERIOD_CAP_USD,
	type SetLimitsInput,
	type AdminSetLimitsInput
} from './settings-input';
export {
	getModelCaps,
	setUserModelCap,
	setAdminModelCap,
	setModelCapInput,
	adminSetModelCapInput,
	MAX_MODEL_CAPS,
	type SetModelCapInput,
	type AdminSetModelCapInput
} from './model-caps';
export { nextWeekStart, nextMonthStart } from './period-caps';
export { startLimitsMaintenance, type LimitsMaintenanceOptions } from './maintenance';
export { keySources } from './types';
export type {
	KeySource,
	LimitDefaults,
	AdmitRequest,
	Admission,
	ActualUsage,
	LimitValues,
	LimitSettingValues,
	ReclaimedReservation,
	SourceLimits,
	ProviderLimits,
	EffectiveLimits,
	ModelCap
} from './types';
