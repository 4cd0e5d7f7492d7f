export {
	insertUsageRecord,
	recordAbandonedRequests,
	ABANDONED,
	UsageWriter,
	type UsageRecord,
	type UsageWriterOptions
} from './records';
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
