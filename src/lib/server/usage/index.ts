export { insertUsageRecord, recordAbandonedRequests, ABANDONED, type UsageRecord } from './records';
export { UsageWriter, type UsageWriterOptions, type DurableWrite } from './writer';
export {
	summarizeUsage,
	dailyUsage,
	usageByModel,
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
	usageCsvStream,
	resolveUsageExport,
	usageExportQuery,
	usageCsvFilename,
	parseUtcRange,
	parseUtcBound,
	neutralizeFormula,
	defaultExportStrategy,
	USAGE_CSV_COLUMNS,
	MAX_EXPORT_DAYS,
	DEFAULT_EXPORT_DAYS,
	DEFAULT_EXPORT_BATCH_SIZE,
	type ExportStrategy,
	type UsageExport,
	type UsageExportDeps,
	type UsageExportActor,
	type UsageExportFilters,
	type UsageCsvProgress,
	type UsageCsvStreamOptions,
	type UtcRange,
	type RangeOptions
} from './csv';
