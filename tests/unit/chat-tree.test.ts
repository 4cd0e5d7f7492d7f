import { describe, expect, it } from 'vitest';
import { branchOf, siblingsOf } from '$lib/chat/tree';

const node = (key: string, parentKey: string | null) => ({ key, parentKey });

describe('conversation tree', () => {
	// q1 → a1 → q2 → a2, with q2 edited (q2b → a2b) and a1 regenerated (a1b).
	const nodes = [
		node('q1', null),
		node('a1', 'q1'),
		node('q2', 'a1'),
		node('a2', 'q2'),
		node('q2b', 'a1'),
		node('a2b', 'q2b'),
		node('a1b', 'q1')
	];

	it('follows the newest version at each fork unless one was chosen', () => {
		expect(branchOf(nodes, {}).map((n) => n.key)).toEqual(['q1', 'a1b']);
		expect(branchOf(nodes, { q1: 'a1' }).map((n) => n.key)).toEqual(['q1', 'a1', 'q2b', 'a2b']);
		expect(branchOf(nodes, { q1: 'a1', a1: 'q2' }).map((n) => n.key)).toEqual(['q1', 'a1', 'q2', 'a2']);
		// A choice that no longer exists falls back to the newest.
		expect(branchOf(nodes, { q1: 'gone' }).map((n) => n.key)).toEqual(['q1', 'a1b']);
		expect(branchOf([], {})).toEqual([]);
	});

	it('numbers a message among its versions', () => {
		expect(siblingsOf(nodes, nodes[4]!)).toEqual({ index: 2, count: 2, keys: ['q2', 'q2b'] });
		expect(siblingsOf(nodes, nodes[0]!)).toMatchObject({ index: 1, count: 1 });
	});
});
