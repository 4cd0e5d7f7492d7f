import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { notFound } from '$lib/server/errors';
import { getConversation, type StoredMessage } from './store';

/** A conversation as Markdown (one branch, as read on screen) and all of them as JSON (everything). */

/** The branch ending at `leafId` (else at the newest message), first message first. */
export function branchOf(messages: StoredMessage[], leafId?: string | null): StoredMessage[] {
	const byId = new Map(messages.map((m) => [m.id, m]));
	const leaf = leafId ? byId.get(leafId) : messages.at(-1);
	if (leafId && !leaf) throw notFound('That message is not in this conversation.');
	const branch: StoredMessage[] = [];
	for (let m = leaf; m; m = m.parentId ? byId.get(m.parentId) : undefined) branch.push(m);
	return branch.reverse();
}

/** Quoted, so a system prompt written in Markdown stays one block. */
const quoteBlock = (text: string) => text.replace(/^/gm, '> ');

export function conversationMarkdown(
	conversation: { title: string; model: string; systemPrompt: string; createdAt: Date },
	branch: StoredMessage[]
): string {
	const lines = [
		`# ${conversation.title}`,
		'',
		`_Exported from Latchkey · started ${conversation.createdAt.toISOString()}_`,
		''
	];
	if (conversation.systemPrompt) lines.push('**System prompt**', '', quoteBlock(conversation.systemPrompt), '');
	for (const message of branch) {
		if (message.role === 'user') {
			lines.push('## You', '', message.content);
			for (const image of message.images) lines.push('', `_[image ${image.position + 1}: ${image.mediaType}]_`);
		} else {
			const source = message.keySource === 'user' ? 'your key' : message.keySource === 'app' ? 'app key' : null;
			lines.push(`## Assistant${message.model ? ` (${[message.model, source].filter(Boolean).join(', ')})` : ''}`, '');
			lines.push(message.content || '_No answer._');
			if (message.errorMessage) lines.push('', `_${message.errorMessage}_`);
		}
		lines.push('');
	}
	return `${lines.join('\n').trimEnd()}\n`;
}

export async function exportConversationMarkdown(
	db: Kysely<Database>,
	userId: string,
	input: { id: string; leaf?: string | null }
): Promise<{ title: string; markdown: string }> {
	const conversation = await getConversation(db, userId, { id: input.id });
	return {
		title: conversation.title,
		markdown: conversationMarkdown(conversation, branchOf(conversation.messages, input.leaf))
	};
}

/** One conversation of the JSON export: every message (all branches, `parentId` links them), images as data: URLs. */
async function conversationForExport(
	db: Kysely<Database>,
	conversation: { id: string; title: string; model: string; system_prompt: string; created_at: Date; updated_at: Date }
) {
	const [messages, images] = await Promise.all([
		db
			.selectFrom('messages')
			.selectAll()
			.where('conversation_id', '=', conversation.id)
			.orderBy('created_at')
			.orderBy('id')
			.execute(),
		db
			.selectFrom('message_images as i')
			.innerJoin('messages as m', 'm.id', 'i.message_id')
			.select(['i.message_id', 'i.media_type', 'i.data'])
			.where('m.conversation_id', '=', conversation.id)
			.orderBy('i.position')
			.execute()
	]);
	const imagesOf = new Map<string, { mediaType: string; dataUrl: string }[]>();
	for (const image of images) {
		const list = imagesOf.get(image.message_id) ?? [];
		list.push({
			mediaType: image.media_type,
			dataUrl: `data:${image.media_type};base64,${Buffer.from(image.data).toString('base64')}`
		});
		imagesOf.set(image.message_id, list);
	}
	return {
		id: conversation.id,
		title: conversation.title,
		model: conversation.model,
		systemPrompt: conversation.system_prompt,
		createdAt: conversation.created_at.toISOString(),
		updatedAt: conversation.updated_at.toISOString(),
		messages: messages.map((m) => ({
			id: m.id,
			parentId: m.parent_id,
			role: m.role,
			content: m.content,
			model: m.model,
			provider: m.provider,
			keySource: m.key_source,
			promptTokens: m.prompt_tokens,
			completionTokens: m.completion_tokens,
			costMicros: m.cost_micros,
			error: m.error_code ? { code: m.error_code, message: m.error_message } : null,
			images: imagesOf.get(m.id) ?? [],
			createdAt: m.created_at.toISOString()
		}))
	};
}

/**
 * Every conversation of the person as one JSON document, produced one conversation at a time so
 * memory holds one conversation (its images included), however many there are.
 */
export async function* exportAllConversations(
	db: Kysely<Database>,
	userId: string,
	now = new Date()
): AsyncGenerator<string> {
	const conversations = await db
		.selectFrom('conversations')
		.select(['id', 'title', 'model', 'system_prompt', 'created_at', 'updated_at'])
		.where('user_id', '=', userId)
		.orderBy('created_at')
		.execute();
	yield `{"format":"latchkey.conversations.v1","exportedAt":${JSON.stringify(now.toISOString())},"conversations":[`;
	for (const [index, conversation] of conversations.entries()) {
		yield `${index > 0 ? ',' : ''}\n${JSON.stringify(await conversationForExport(db, conversation))}`;
	}
	yield '\n]}\n';
}
