/**
 * A conversation is a tree: an edited question or a regenerated answer is a sibling of the
 * original. The page shows one branch; at each fork it follows the person's choice, else the
 * newest child (so a new edit or answer shows at once).
 */

export interface TreeNode {
	key: string;
	/** The parent's key; null for a first message. */
	parentKey: string | null;
}

/** Children of each parent (null: the roots), in the order given (oldest first). */
export function childrenOf<T extends TreeNode>(nodes: readonly T[]): Map<string | null, T[]> {
	const children = new Map<string | null, T[]>();
	for (const node of nodes) {
		const list = children.get(node.parentKey) ?? [];
		list.push(node);
		children.set(node.parentKey, list);
	}
	return children;
}

/** The shown branch, first message first. `choice` maps a parent key (or '' for the roots) to the chosen child. */
export function branchOf<T extends TreeNode>(nodes: readonly T[], choice: Readonly<Record<string, string>>): T[] {
	const children = childrenOf(nodes);
	const branch: T[] = [];
	const seen = new Set<string>();
	let parent: string | null = null;
	for (;;) {
		const options: T[] | undefined = children.get(parent);
		if (!options || options.length === 0) return branch;
		const chosen: string | undefined = choice[parent ?? ''];
		const next: T = options.find((node) => node.key === chosen) ?? options[options.length - 1]!;
		if (seen.has(next.key)) return branch;
		seen.add(next.key);
		branch.push(next);
		parent = next.key;
	}
}

/** A node's place among its siblings (1-based) and their keys, for "‹ 2 / 3 ›". */
export function siblingsOf<T extends TreeNode>(
	nodes: readonly T[],
	node: T
): { index: number; count: number; keys: string[] } {
	const keys = nodes.filter((other) => other.parentKey === node.parentKey).map((other) => other.key);
	return { index: keys.indexOf(node.key) + 1, count: keys.length, keys };
}
