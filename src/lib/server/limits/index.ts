/**
 * Rate limits and daily spending caps per user, provider and key source, exact under concurrency
 * and across instances sharing one PostgreSQL (every check is one atomic statement). The routing
 * engine calls `admit` before a provider call and `settle` (or `release`) after it; each instance
 * runs `startLimitsMaintenance` (reclaims reservations of dead requests). See docs/limits.md.
 */
export {
	admit,
	admitCall,
	admissionOf,
	settle,
	release,
	releaseRequest,
	reclaimExpiredReservations,
	pruneLimitHistory,
	DEFAULT_RECLAIM_AFTER_SECONDS,
	type AdmitRow,
	type ReclaimOptions,
	type PruneResult
} from './counters';
export { getEffectiveLimits, getLimitValues, sourceStatus } from './settings';
export { setUserLimits, setAdminLimits, type AdminLimitsChange, type AdminActor } from './set-limits';
export {
	setLimitsInput,
	adminSetLimitsInput,
	usdToMicros,
	MAX_REQUESTS_PER_HOUR,
	MAX_TOKENS_PER_HOUR,
	MAX_DAILY_CAP_USD,
	type SetLimitsInput,
	type AdminSetLimitsInput
} from './settings-input';
export { startLimitsMaintenance, type LimitsMaintenanceOptions } from './maintenance';
export { formatUsd, providerName } from './messages';
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
	SourceStatus,
	SourceLimits,
	ProviderLimits,
	EffectiveLimits
} from './types';
