import { providers } from '$lib/server/config';

/**
 * A token's model scope: null (every model) or patterns, each a model id (`openai/gpt-4o-mini`) or
 * a prefix ending in one `*` (`openai/*`, `anthropic/claude-sonnet-4*`). The SQL function
 * `token_scope_allows` (migration 0020) is the definition the chat's first statement uses; this
 * mirrors it for the model list and for messages, and the migration's check constraint holds the syntax.
 */
export type ModelScope = readonly string[] | null;

export const MAX_SCOPE_PATTERNS = 20;

/** One pattern: a known provider, a slash, then an id (optionally ending in `*`) or just `*`. */
export const SCOPE_PATTERN = new RegExp(`^(${providers.join('|')})/([A-Za-z0-9._:/@+-]{1,180}\\*?|\\*)$`);

function patternAllows(pattern: string, modelId: string): boolean {
	return pattern.endsWith('*') ? modelId.startsWith(pattern.slice(0, -1)) : modelId === pattern;
}

/** Whether `modelId` is within `scope`; as `token_scope_allows` in SQL. */
export function scopeAllows(scope: ModelScope, modelId: string): boolean {
	return scope === null || scope.some((pattern) => patternAllows(pattern, modelId));
}

/** "openai/*, anthropic/claude-sonnet-4*": how messages name a scope. */
export function describeScope(scope: readonly string[]): string {
	return scope.join(', ');
}
