import { z } from 'zod';
import { AppError } from '$lib/server/errors';
import { parseInput } from '$lib/server/validation';

/** UTC periods from user input (`from`/`to` query fields): usage export, analytics, audit filters. */

export const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const DEFAULT_MAX_DAYS = 366;

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const MIN_YEAR = 2000;
const MAX_YEAR = 9999;

export interface DateBound {
	at: Date;
	/** A plain date (YYYY-MM-DD) means the whole day: as `to` it includes that day. */
	dateOnly: boolean;
}

export interface UtcRange {
	/** Inclusive. */
	from: Date;
	/** Exclusive: a plain date given as `to` becomes the next midnight, so that day is included. */
	to: Date;
}

export interface RangeOptions {
	/** When `from` is missing: this many days before `to`. */
	defaultDays?: number;
	maxDays?: number;
	now?: Date;
	/** Ends the "too long" message, e.g. "export a longer period in parts". */
	tooLongAdvice?: string;
}

function isCalendarDate(year: string, month: string, day: string): boolean {
	const y = Number(year);
	const m = Number(month);
	const d = Number(day);
	const date = new Date(Date.UTC(y, m - 1, d));
	return (
		y >= MIN_YEAR &&
		y <= MAX_YEAR &&
		date.getUTCFullYear() === y &&
		date.getUTCMonth() === m - 1 &&
		date.getUTCDate() === d
	);
}

/** A date (`2026-01-31`) or a date-time (`2026-01-31T12:00:00Z`; no zone means UTC), or a Date. */
export function dateBound(field: 'from' | 'to') {
	const message = `${field} must be a date like 2026-01-31 or a UTC date-time like 2026-01-31T12:00:00Z.`;
	return z
		.union([z.date(), z.string()], { errorMap: () => ({ message }) })
		.optional()
		.transform((value, ctx): DateBound | undefined => {
			if (value === undefined) return undefined;
			if (value instanceof Date) {
				if (Number.isNaN(value.getTime())) {
					ctx.addIssue({ code: z.ZodIssueCode.custom, message });
					return z.NEVER;
				}
				return { at: value, dateOnly: false };
			}
			const text = value.trim();
			if (text === '') return undefined;
			const dateOnly = DATE_ONLY.exec(text);
			const dateTime = dateOnly ? null : DATE_TIME.exec(text);
			const parts = dateOnly ?? dateTime;
			if (!parts || !isCalendarDate(parts[1]!, parts[2]!, parts[3]!)) {
				ctx.addIssue({ code: z.ZodIssueCode.custom, message });
				return z.NEVER;
			}
			const zoned = dateOnly ? `${text}T00:00:00Z` : /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
			const at = new Date(zoned);
			if (Number.isNaN(at.getTime())) {
				ctx.addIssue({ code: z.ZodIssueCode.custom, message });
				return z.NEVER;
			}
			return { at, dateOnly: Boolean(dateOnly) };
		});
}

/** The `from` and `to` fields, for schemas that take a range with other fields. */
export const utcRangeFields = { from: dateBound('from'), to: dateBound('to') };

/** Validates `{from, to}` (strings or Dates; either may be missing) into a half-open UTC range. */
export function parseUtcRange(input: { from?: unknown; to?: unknown }, options: RangeOptions = {}): UtcRange {
	const parsed = parseInput(z.object(utcRangeFields), { from: input.from, to: input.to });
	return resolveUtcRange(parsed, options);
}

/** One optional bound (`to` as a plain date includes that day), for filters with no default period. */
export function parseUtcBound(value: unknown, field: 'from' | 'to'): Date | undefined {
	const bound = parseInput(z.object({ [field]: dateBound(field) }), { [field]: value })[field];
	if (!bound) return undefined;
	return field === 'to' && bound.dateOnly ? new Date(bound.at.getTime() + DAY_MS) : bound.at;
}

/** Parsed bounds into a range: defaults (`to` = end of today), order and length checked. */
export function resolveUtcRange(bounds: { from?: DateBound; to?: DateBound }, options: RangeOptions = {}): UtcRange {
	const maxDays = options.maxDays ?? DEFAULT_MAX_DAYS;
	const defaultDays = options.defaultDays ?? DEFAULT_DAYS;
	const now = options.now ?? new Date();
	const endOfToday = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + DAY_MS);
	const to = bounds.to ? (bounds.to.dateOnly ? new Date(bounds.to.at.getTime() + DAY_MS) : bounds.to.at) : endOfToday;
	const from = bounds.from ? bounds.from.at : new Date(to.getTime() - defaultDays * DAY_MS);
	if (to.getTime() <= from.getTime()) {
		throw new AppError('bad_request', 'to must be after from.', {
			reason: 'invalid_range',
			details: { field: 'to' }
		});
	}
	if (to.getTime() - from.getTime() > maxDays * DAY_MS) {
		throw new AppError(
			'bad_request',
			`The period can be at most ${maxDays} days; ${options.tooLongAdvice ?? 'choose a shorter one'}.`,
			{
				reason: 'invalid_range',
				details: { field: 'from' }
			}
		);
	}
	return { from, to };
}
