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
