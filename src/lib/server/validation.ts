import type { z } from 'zod';
import { AppError } from './errors';

/** Parses untrusted input; the first problem becomes a clear 400 naming the field. */
export function parseInput<S extends z.ZodTypeAny>(schema: S, input: unknown): z.output<S> {
	const result = schema.safeParse(input);
	if (result.success) return result.data;
	throw validationError(result.error);
}

export function validationError(error: z.ZodError): AppError {
	const issue = error.issues[0];
	const field = issue?.path.join('.') ?? '';
	const message = issue ? humanMessage(issue) : 'The request is not valid.';
	return new AppError('bad_request', message, {
		reason: 'invalid_input',
		details: { field, issues: error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), message: i.message })) }
	});
}

function humanMessage(issue: z.ZodIssue): string {
	const field = issue.path.join('.');
	if (issue.code === 'unrecognized_keys')
		return `Unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}.`;
	// Schemas may carry their own wording; zod's defaults ("Required", "Expected string, received
	// number") are replaced by sentences that name the field.
	const isDefault = issue.message === 'Required' || /^Expected .+, received .+$/.test(issue.message);
	if (issue.code === 'invalid_type' && isDefault) {
		if (issue.received === 'undefined') return field ? `${field} is required.` : 'Input is required.';
		return field ? `${field} must be ${issue.expected}.` : `Expected ${issue.expected}.`;
	}
	return issue.message;
}

// PostgreSQL text cannot hold NUL, and no person types it.
const WITHOUT_NUL = /^[^\u0000]*$/; // eslint-disable-line no-control-regex -- finding NUL is the point
// C0/C1 controls and the line and paragraph separators: a name is one line of visible text.
const WITHOUT_CONTROLS = /^[^\p{Cc}\u2028\u2029]*$/u;
/**
 * Text-direction controls (U+061C, U+200E/F, U+202A–E, U+2066–9) and invisible characters
 * (U+200B, U+2060–4, U+FEFF) make a name read as something it is not ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf").
 * Joiners (U+200C/D) are only allowed between letters or emoji, where Persian, Indic scripts and
 * emoji sequences need them.
 */
const SPOOFING_CHARACTER =
	/[\u061C\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]|(?<![\p{L}\p{M}\p{Extended_Pictographic}\uFE0F])[\u200C\u200D]|[\u200C\u200D](?![\p{L}\p{M}\p{Extended_Pictographic}])/u;

/** Text a person wrote (a message, a model id, a search): anything but NUL. */
export function userText(schema: z.ZodString, subject: string): z.ZodString {
	return schema.regex(WITHOUT_NUL, `${subject} cannot contain NUL characters (U+0000).`);
}

/** A one-line name (a title, a key label, a token name): no controls, no hidden or direction-changing characters. */
export function oneLineName(schema: z.ZodString, subject: string): z.ZodEffects<z.ZodString> {
	return schema
		.regex(WITHOUT_CONTROLS, `${subject} cannot contain control characters or line breaks.`)
		.refine((text) => !SPOOFING_CHARACTER.test(text), {
			message: `${subject} cannot contain invisible or text-direction characters (such as U+202E or U+200B).`
		});
}

const CONTROLS = /[\p{Cc}\u2028\u2029]+/gu;
const SPOOFING_CHARACTERS = new RegExp(SPOOFING_CHARACTER.source, 'gu');

/** A name we derive from prose (a conversation's first line), without what `oneLineName` refuses. */
export function toOneLineName(text: string): string {
	return text.replace(CONTROLS, ' ').replace(SPOOFING_CHARACTERS, '');
}
