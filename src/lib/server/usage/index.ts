export { insertUsageRecord, usageRecordInsert, recordAbandonedRequests, ABANDONED, type UsageRecord } from './records';
export { UsageWriter, type UsageWriterOptions, type DurableWrite } from './writer';
export {
	summarizeUsage,
	dailyUsage,
	usageByModel,
	usageByKey,
	startOfUtcMonth,
	startOfUtcDay,
	type UsageTotals,
	type DailyUsage,
	type ModelUsage,
	type UsageRange
} from './aggregates';
export { usageSummary, usageDaily, rangeOf, summaryInput, dailyInput } from './queries';
export {
	exportUsageCsv,
	usageCsvFilename,
	type UsageExport,
	type UsageExportDeps,
	type UsageExportActor
} from './export';
export {
	resolveUsageExport,
	usageExportQuery,
	defaultExportStrategy,
	MAX_EXPORT_DAYS,
	DEFAULT_EXPORT_DAYS,
	type ExportStrategy,
	type UsageExportFilters
} from './export-query';
export {
	usageCsvStream,
	DEFAULT_EXPORT_BATCH_SIZE,
	type UsageCsvProgress,
	type UsageCsvStreamOptions
} from './csv-stream';
export { neutralizeFormula, USAGE_CSV_COLUMNS } from './csv';
