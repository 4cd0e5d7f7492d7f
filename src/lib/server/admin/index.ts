/**
 * The admin console's domain: the user directory (keys' metadata, never key material; spend by
 * key source), incident response (deactivate keys, one user's or one provider's across all users), analytics, the audit log viewer, and the
 * guard that refuses and audits non-admins. The CSV export itself lives in `usage` (export.ts).
 */
export {
	listUsers,
	getUserDetails,
	adminKeyOf,
	KEY_METADATA_COLUMNS,
	type AdminKey,
	type AdminUserSummary,
	type AdminUserPage,
	type AdminUserDetails,
	type SourceSpend,
	type UsagePeriod
} from './directory';
export {
	deactivateKey,
	deactivateUserKeys,
	enableKey,
	type DeactivatedKey,
	type DeactivatedKeys,
	type EnabledKey
} from './incidents';
export { bulkDeactivateKeys, bulkRevalidateKeys, type BulkDeactivation, type BulkRevalidation } from './bulk';
export {
	adminAnalytics,
	analyticsPeriodOf,
	ANALYTICS_PRESET_DAYS,
	ANALYTICS_DEFAULT_DAYS,
	ANALYTICS_MAX_DAYS,
	type AdminAnalytics,
	type AnalyticsPeriod,
	type AnalyticsPresetDays,
	type AdoptionFigures,
	type ValidationFigures,
	type FallbackFigures,
	type CostFigures,
	type DailyFigures
} from './analytics';
export {
	adminAuditLog,
	recordForbiddenAttempt,
	type AdminAuditEntry,
	type AdminAuditPage,
	type ForbiddenAttempt
} from './audit';
export { requireAdmin, requireAdminPage, auditForbidden, type AdminCheck } from './guard';
export {
	adminUsersInput,
	adminUserInput,
	adminDisableKeyInput,
	adminDisableAllKeysInput,
	adminEnableKeyInput,
	adminBulkKeysInput,
	adminAuditLogInput,
	adminAnalyticsInput,
	MAX_USERS_PAGE_SIZE,
	MAX_AUDIT_VIEW_PAGE,
	type AdminUsersInput,
	type AdminAuditLogInput,
	type AdminAnalyticsInput
} from './schemas';
