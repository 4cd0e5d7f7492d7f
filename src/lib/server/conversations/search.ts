import { z } from 'zod';
import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { parseInput, userText } from '$lib/server/validation';

export const searchInput = z
	.object({
		query: userText(z.string({ required_error: 'Type something to search for.' }), 'Searches')
			.transform((q) => q.trim())
			.pipe(z.string().min(1, 'Type something to search for.').max(200, 'Searches can be at most 200 characters.'))
	})
	.strict();

export interface SearchHit {
	id: string;
	title: string;
	/** Words around the first match in a message; null when only the title matched. */
	snippet: string | null;
}

/** The person's conversations whose title or any message contains the words (case-insensitive), newest first. */
export async function searchConversations(db: Kysely<Database>, userId: string, input: unknown): Promise<SearchHit[]> {
	const { query } = parseInput(searchInput, input);
	const needle = query.toLowerCase();
	// position() rather than LIKE: the words are matched as typed, `%` and `_` included.
	const rows = await db
		.selectFrom('conversations as c')
		.select((eb) => [
			'c.id',
			'c.title',
			eb
				.selectFrom('messages as m')
				.select(
					sql<string>`substr(m.content, greatest(position(${needle} in lower(m.content)) - 40, 1), 160)`.as('snippet')
				)
				.whereRef('m.conversation_id', '=', 'c.id')
				.where(sql<boolean>`position(${needle} in lower(m.content)) > 0`)
				.orderBy('m.created_at')
				.limit(1)
				.as('snippet')
		])
		.where('c.user_id', '=', userId)
		.where((eb) =>
			eb.or([
				sql<boolean>`position(${needle} in lower(c.title)) > 0`,
				eb.exists(
					eb
						.selectFrom('messages as m')
						.select(sql`1`.as('one'))
						.whereRef('m.conversation_id', '=', 'c.id')
						.where(sql<boolean>`position(${needle} in lower(m.content)) > 0`)
				)
			])
		)
		.orderBy('c.updated_at', 'desc')
		.limit(50)
		.execute();
	return rows.map((row) => ({
		id: row.id,
		title: row.title,
		snippet: row.snippet ? row.snippet.replace(/\s+/g, ' ').trim() : null
	}));
}
