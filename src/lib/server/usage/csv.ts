import { formatUsdExact } from '$lib/money';
import type { ExportRow } from './export-query';

/**
 * The usage CSV's cells: RFC 4180, UTC ISO-8601 timestamps, exact dollars from micro-dollars (`formatUsdExact`), and
 * text a spreadsheet would run as a formula neutralised with a leading `'`.
 */

export const USAGE_CSV_COLUMNS = [
	'timestamp',
	'request_id',
	'user_email',
	'provider',
	'model',
	'key_source',
	'prompt_tokens',
	'completion_tokens',
	'cached_read_tokens',
	'cache_write_tokens',
	'reasoning_tokens',
	'cost_usd',
	'success',
	'error_code',
	'estimated',
	'cost_known'
] as const;

const FORMULA_START = /^[=+\-@\t\r]/;

/** A spreadsheet runs a cell starting with = + - @ (or tab, CR) as a formula: make it text. */
export function neutralizeFormula(cell: string): string {
	return FORMULA_START.test(cell) ? `'${cell}` : cell;
}

export function csvRecord(row: ExportRow): string[] {
	return [
		row.at,
		neutralizeFormula(row.request_id),
		neutralizeFormula(row.email),
		neutralizeFormula(row.provider),
		neutralizeFormula(row.model),
		neutralizeFormula(row.key_source),
		String(row.prompt_tokens),
		String(row.completion_tokens),
		String(row.cached_read_tokens),
		String(row.cache_write_tokens),
		String(row.reasoning_tokens),
		// A model with no known price: an empty cell, never a $0 that reads as free.
		row.cost_known ? formatUsdExact(row.cost_micros) : '',
		row.success ? 'true' : 'false',
		row.error_code === null ? '' : neutralizeFormula(row.error_code),
		row.estimated ? 'true' : 'false',
		row.cost_known ? 'true' : 'false'
	];
}

// RFC 4180: CRLF between records; csv-stringify quotes CR/LF only when told (neither alone is its delimiter here).
export const CSV_OPTIONS = { record_delimiter: 'windows', quoted_match: /[\r\n]/ } as const;
