import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { deserializeInput } from '$lib/server/trpc/transformer';

/** What the tRPC client sends: the input serialised by superjson, then through JSON. */
const wire = (input: unknown) => JSON.parse(JSON.stringify(superjson.serialize(input))) as unknown;

describe('tRPC input deserialisation', () => {
	it('reads what the client sends: plain JSON, Dates, undefined and NaN at any depth', () => {
		const inputs = [
			{ name: 'laptop', expiresInDays: 30 },
			{ name: 'laptop', expiresInDays: undefined },
			{ from: new Date('2026-01-31T00:00:00Z'), to: undefined, limit: 5 },
			{ nested: { list: [undefined, new Date('2026-02-01T12:00:00Z'), 'x'] } },
			{ 'a.dotted key': new Date('2026-03-01T00:00:00Z'), 'back\\slash': undefined },
			// A limit field holding no number: the procedure refuses it with its own message.
			{ provider: 'openai', requestsPerHour: NaN },
			undefined,
			'just text'
		];
		for (const input of inputs) expect(deserializeInput(wire(input))).toStrictEqual(input);
	});

	it.each<[string, unknown]>([
		['the probe (unbounded recursion in superjson)', { json: { x: 1 }, meta: { values: { x: ['class', 'Foo'] } } }],
		['a custom type', { json: { x: 1 }, meta: { values: { x: ['custom', 'Foo'] }, v: 1 } }],
		['a type as a bare string', { json: { x: 1 }, meta: { values: { x: 'Date' }, v: 1 } }],
		['nested annotations', { json: { x: 1 }, meta: { values: { x: ['Date', { a: ['Date'] }] }, v: 1 } }],
		['a map', { json: { x: [] }, meta: { values: { x: ['map'] }, v: 1 } }],
		['a bigint', { json: { x: '1' }, meta: { values: { x: ['bigint'] }, v: 1 } }],
		['a number that is not NaN', { json: { x: 'Infinity' }, meta: { values: { x: ['number'] }, v: 1 } }],
		['a regular expression', { json: { x: 'a+' }, meta: { values: { x: ['regexp'] }, v: 1 } }],
		['a __proto__ path', { json: { x: {} }, meta: { values: { 'x.__proto__': ['Date'] }, v: 1 } }],
		['a constructor path', { json: { constructor: 'x' }, meta: { values: { constructor: ['Date'] }, v: 1 } }],
		['a path the input does not have', { json: { x: 1 }, meta: { values: { y: ['Date'] }, v: 1 } }],
		['a path through a number', { json: { x: 1 }, meta: { values: { 'x.y.z': ['Date'] }, v: 1 } }],
		['an index past the end', { json: { ids: [] }, meta: { values: { 'ids.99999999': ['undefined'] }, v: 1 } }],
		[
			'an index that is not a number',
			{ json: { ids: [null] }, meta: { values: { 'ids.length': ['undefined'] }, v: 1 } }
		],
		['a Date that is not a string', { json: { x: { y: 1 } }, meta: { values: { x: ['Date'] }, v: 1 } }],
		['undefined that is not null', { json: { x: 'kept' }, meta: { values: { x: ['undefined'] }, v: 1 } }],
		['a malformed escape', { json: { x: 1 }, meta: { values: { 'x\\y': ['Date'] }, v: 1 } }],
		['referential equalities', { json: { a: {}, b: {} }, meta: { referentialEqualities: { a: ['b'] }, v: 1 } }],
		['an old meta version', { json: { x: '2026-01-01' }, meta: { values: { x: ['Date'] } } }],
		['a meta that is a string', { json: { x: 1 }, meta: 'values' }],
		['values that are a string', { json: { x: 1 }, meta: { values: 'x', v: 1 } }],
		['a root annotation other than undefined', { json: '2026-01-01', meta: { values: ['Date'], v: 1 } }],
		['null', null],
		['an array', [{ json: 1 }]],
		['a number', 5]
	])('refuses %s with a 400, at once', (_name, payload) => {
		const started = performance.now();
		expect(() => deserializeInput(payload)).toThrow(
			expect.objectContaining({ status: 400, reason: 'invalid_input', message: expect.stringMatching(/superjson/) })
		);
		expect(performance.now() - started).toBeLessThan(20);
	});

	it('refuses a 100,000-segment path in linear time', () => {
		const path = Array.from({ length: 100_000 }, () => 'a').join('.');
		const started = performance.now();
		expect(() => deserializeInput({ json: { a: {} }, meta: { values: { [path]: ['Date'] }, v: 1 } })).toThrow(
			/superjson/
		);
		expect(performance.now() - started).toBeLessThan(200);
	});
});
