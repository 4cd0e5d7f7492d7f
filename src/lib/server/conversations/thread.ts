import { sql, type Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { notFound } from '$lib/server/errors';
import type { ChatMessage, ContentPart } from '$lib/server/providers';

/**
 * The branch a new turn continues: the messages from the first down to the one it follows, with
 * their images, as the model reads them. Edits and regenerations are siblings in the tree, so the
 * prompt is a path, not the whole conversation.
 */
export interface Thread {
	systemPrompt: string;
	messages: ChatMessage[];
	/** The message the thread ends with (a new turn's parent); null when the thread is empty. */
	last: { id: string; role: 'user' | 'assistant' } | null;
}

interface ThreadRow {
	system_prompt: string;
	id: string | null;
	role: 'user' | 'assistant' | null;
	content: string | null;
	has_images: boolean | null;
}

/**
 * `after`: a message id (the thread ends there), null (an empty thread: a new first message), or
 * undefined (the newest message of the conversation). Also proves the person owns the conversation.
 */
export async function loadThread(
	db: Kysely<Database>,
	userId: string,
	conversationId: string,
	after: string | null | undefined
): Promise<Thread> {
	const newest = after === undefined;
	const { rows } = await sql<ThreadRow>`
		with recursive thread (id, parent_id, role, content, depth) as (
			select m.id, m.parent_id, m.role, m.content, 0
			from messages m
			where m.conversation_id = ${conversationId}
				and m.id = coalesce(${after ?? null}::uuid, case when ${newest}::boolean then (
					select n.id from messages n where n.conversation_id = ${conversationId}
					order by n.created_at desc, n.id desc limit 1
				) end)
			union all
			select p.id, p.parent_id, p.role, p.content, t.depth + 1
			from messages p join thread t on p.id = t.parent_id and p.conversation_id = ${conversationId}
		)
		select c.system_prompt, t.id, t.role, t.content,
			exists (select 1 from message_images i where i.message_id = t.id) as has_images
		from conversations c left join thread t on true
		where c.id = ${conversationId} and c.user_id = ${userId}
		order by t.depth desc`.execute(db);
	const first = rows[0];
	if (!first) throw notFound('That conversation does not exist.');
	if (typeof after === 'string' && first.id === null) throw notFound('That message is not in this conversation.');

	const withImages = rows.filter((row) => row.has_images && row.id !== null).map((row) => row.id as string);
	const images = withImages.length > 0 ? await loadImages(db, withImages) : new Map<string, ContentPart[]>();
	const messages: ChatMessage[] = [];
	let last: Thread['last'] = null;
	for (const row of rows) {
		if (row.id === null || row.role === null || row.content === null) continue;
		last = { id: row.id, role: row.role };
		// Failed assistant turns (no content) are not sent back to the model.
		if (row.role === 'assistant') {
			if (row.content !== '') messages.push({ role: 'assistant', content: row.content });
			continue;
		}
		const parts = images.get(row.id);
		messages.push({
			role: 'user',
			content: parts ? [...(row.content ? [{ type: 'text' as const, text: row.content }] : []), ...parts] : row.content
		});
	}
	return { systemPrompt: first.system_prompt, messages, last };
}

async function loadImages(db: Kysely<Database>, messageIds: string[]): Promise<Map<string, ContentPart[]>> {
	const rows = await db
		.selectFrom('message_images')
		.select(['message_id', 'media_type', 'data'])
		.where('message_id', 'in', messageIds)
		.orderBy('message_id')
		.orderBy('position')
		.execute();
	const parts = new Map<string, ContentPart[]>();
	for (const row of rows) {
		const list = parts.get(row.message_id) ?? [];
		list.push({
			type: 'image',
			image: { kind: 'data', mediaType: row.media_type, base64: Buffer.from(row.data).toString('base64') }
		});
		parts.set(row.message_id, list);
	}
	return parts;
}

/** One stored image of the person's own conversations, for `GET /api/chat/images/<id>/<position>`. */
export async function getMessageImage(
	db: Kysely<Database>,
	userId: string,
	messageId: string,
	position: number
): Promise<{ mediaType: string; data: Uint8Array }> {
	const row = await db
		.selectFrom('message_images as i')
		.innerJoin('messages as m', 'm.id', 'i.message_id')
		.innerJoin('conversations as c', 'c.id', 'm.conversation_id')
		.select(['i.media_type', 'i.data'])
		.where('i.message_id', '=', messageId)
		.where('i.position', '=', position)
		.where('c.user_id', '=', userId)
		.executeTakeFirst();
	if (!row) throw notFound('That image does not exist.');
	return { mediaType: row.media_type, data: row.data };
}
