import superjson from 'superjson';
import type { DataTransformer } from '@trpc/server';
import { AppError } from '$lib/server/errors';

/**
 * superjson, except that a request's `meta` is checked before superjson reads it: superjson
 * recurses without bound on malformed annotations (a 150-byte input cost ~250 ms and a 500).
 * Our inputs are plain JSON objects whose only non-JSON values are Dates, undefined and NaN, so
 * `meta` may only say which leaf is one of those, at a path that exists.
 * (The server only deserialises inputs; clients use superjson itself.)
 */
export const transformer: DataTransformer = {
	serialize: (value) => superjson.serialize(value),
	deserialize: deserializeInput
};

/** The annotations the real client sends: a Date as its ISO string, undefined as null, and NaN
 * (what a limit field that holds no number sends, refused by the procedure with its own message). */
const LEAF_VALUE: Record<string, (value: unknown) => boolean> = {
	Date: (value) => typeof value === 'string',
	undefined: (value) => value === null,
	number: (value) => value === 'NaN'
};
// superjson itself throws on these (a 500); they never occur in our inputs.
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

function refused(detail: string): AppError {
	return new AppError(
		'bad_request',
		`The input is not in the superjson form this API takes ({json, meta}): ${detail}. Use the tRPC client with the superjson transformer.`,
		{ reason: 'invalid_input' }
	);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
	typeof value === 'object' && value !== null && !Array.isArray(value);

export function deserializeInput(payload: unknown): unknown {
	if (!isRecord(payload)) throw refused('the input must be an object');
	const { json, meta } = payload;
	if (meta === undefined) return json;
	if (!isRecord(meta)) throw refused('meta must be an object');
	for (const key of Object.keys(meta)) if (key !== 'values' && key !== 'v') throw refused(`meta.${key} is not taken`);
	if (meta.v !== 1) throw refused('meta.v must be 1');
	const { values } = meta;
	if (Array.isArray(values)) {
		// A whole input that is undefined.
		if (!(values.length === 1 && values[0] === 'undefined' && json === null)) throw refused('meta.values is not valid');
	} else if (isRecord(values)) {
		for (const [path, annotation] of Object.entries(values)) checkLeaf(json, path, annotation);
	} else if (values !== undefined) {
		throw refused('meta.values must be an object');
	}
	return superjson.deserialize({ json, meta } as Parameters<typeof superjson.deserialize>[0]);
}

function checkLeaf(json: unknown, path: string, annotation: unknown): void {
	const type = Array.isArray(annotation) && annotation.length === 1 ? annotation[0] : undefined;
	const accepts = typeof type === 'string' && Object.hasOwn(LEAF_VALUE, type) ? LEAF_VALUE[type] : undefined;
	if (!accepts) throw refused('only Date, undefined and NaN values are taken');
	let node = json;
	for (const segment of pathSegments(path)) {
		if (FORBIDDEN_SEGMENTS.has(segment)) throw refused('meta.values names a forbidden property');
		const exists = Array.isArray(node)
			? /^(0|[1-9]\d*)$/.test(segment) && Number(segment) < node.length
			: isRecord(node) && Object.hasOwn(node, segment);
		if (!exists) throw refused('meta.values names a value the input does not have');
		node = (node as Record<string, unknown>)[segment];
	}
	if (!accepts(node)) throw refused(`meta.values marks a value that cannot be a ${type}`);
}

/** superjson's path syntax (version 1): segments joined by `.`, with `\.` and `\\` escaped. */
function pathSegments(path: string): string[] {
	const segments: string[] = [];
	let segment = '';
	for (let i = 0; i < path.length; i++) {
		const char = path[i];
		if (char === '\\') {
			const next = path[i + 1];
			if (next !== '.' && next !== '\\') throw refused('meta.values has a malformed path');
			segment += next;
			i++;
		} else if (char === '.') {
			segments.push(segment);
			segment = '';
		} else {
			segment += char;
		}
	}
	segments.push(segment);
	return segments;
}
