export { recordAudit, listAudit, AUDIT_ACTIONS, MAX_AUDIT_PAGE } from './log';
export type {
	AuditAction,
	AuditEntry,
	AuditDetails,
	AuditDetailValue,
	AuditRecord,
	AuditFilters,
	AuditPage
} from './log';
