import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database, KeySource, ProviderName } from '$lib/server/db';
import { notFound } from '$lib/server/errors';
import { oneLineName, parseInput, toOneLineName } from '$lib/server/validation';

/** Stored chats, so a reload shows the history. Every query is scoped to the owner. */

export const MAX_MESSAGE_CHARS = 100_000;
export const MAX_TITLE_CHARS = 200;

export interface ConversationSummary {
	id: string;
	title: string;
	model: string;
	createdAt: Date;
	updatedAt: Date;
}

export interface StoredMessage {
	id: string;
	role: 'user' | 'assistant';
	content: string;
	model: string | null;
	provider: ProviderName | null;
	keySource: KeySource | null;
	promptTokens: number | null;
	completionTokens: number | null;
	costMicros: number | null;
	estimated: boolean | null;
	errorCode: string | null;
	errorMessage: string | null;
	fallbackReason: string | null;
	createdAt: Date;
}

const uuid = z.string().uuid({ message: 'Unknown conversation.' });
export const conversationIdInput = z.object({ id: uuid }).strict();
export const renameInput = z
	.object({
		id: uuid,
		title: z
			.string()
			.transform((t) => t.trim().replace(/\s+/g, ' '))
			.pipe(
				oneLineName(
					z
						.string()
						.min(1, 'Give the conversation a title.')
						.max(MAX_TITLE_CHARS, `Titles can be at most ${MAX_TITLE_CHARS} characters.`),
					'Titles'
				)
			)
	})
	.strict();

/** A title from the first message: its first line, shortened at a word boundary. */
export function titleFrom(text: string): string {
	const line = toOneLineName(text.trim().split('\n')[0] ?? '').trim();
	if (line.length <= 60) return line || 'New chat';
	const cut = line.slice(0, 60);
	const space = cut.lastIndexOf(' ');
	return `${(space > 30 ? cut.slice(0, space) : cut).trim()}…`;
}

const SUMMARY_COLUMNS = ['id', 'title', 'model', 'created_at', 'updated_at'] as const;

function toSummary(row: {
	id: string;
	title: string;
	model: string;
	created_at: Date;
	updated_at: Date;
}): ConversationSummary {
	return { id: row.id, title: row.title, model: row.model, createdAt: row.created_at, updatedAt: row.updated_at };
}

export async function listConversations(
	db: Kysely<Database>,
	userId: string,
	limit = 100
): Promise<ConversationSummary[]> {
	const rows = await db
		.selectFrom('conversations')
		.select(SUMMARY_COLUMNS)
		.where('user_id', '=', userId)
		.orderBy('updated_at', 'desc')
		.limit(limit)
		.execute();
	return rows.map(toSummary);
}

export async function getConversation(
	db: Kysely<Database>,
	userId: string,
	input: unknown
): Promise<ConversationSummary & { messages: StoredMessage[] }> {
	const { id } = parseInput(conversationIdInput, input);
	const conversation = await db
		.selectFrom('conversations')
		.select(['id', 'title', 'model', 'created_at', 'updated_at'])
		.where('id', '=', id)
		.where('user_id', '=', userId)
		.executeTakeFirst();
	if (!conversation) throw notFound('That conversation does not exist.');
	const messages = await db
		.selectFrom('messages')
		.selectAll()
		.where('conversation_id', '=', id)
		.orderBy('created_at')
		.orderBy('id')
		.execute();
	return {
		id: conversation.id,
		title: conversation.title,
		model: conversation.model,
		createdAt: conversation.created_at,
		updatedAt: conversation.updated_at,
		messages: messages.map((m) => ({
			id: m.id,
			role: m.role,
			content: m.content,
			model: m.model,
			provider: m.provider,
			keySource: m.key_source,
			promptTokens: m.prompt_tokens,
			completionTokens: m.completion_tokens,
			costMicros: m.cost_micros,
			estimated: m.estimated,
			errorCode: m.error_code,
			errorMessage: m.error_message,
			fallbackReason: m.fallback_reason,
			createdAt: m.created_at
		}))
	};
}

export async function renameConversation(
	db: Kysely<Database>,
	userId: string,
	input: unknown
): Promise<ConversationSummary> {
	const { id, title } = parseInput(renameInput, input);
	const row = await db
		.updateTable('conversations')
		.set({ title, updated_at: new Date() })
		.where('id', '=', id)
		.where('user_id', '=', userId)
		.returning(SUMMARY_COLUMNS)
		.executeTakeFirst();
	if (!row) throw notFound('That conversation does not exist.');
	return toSummary(row);
}

export async function deleteConversation(
	db: Kysely<Database>,
	userId: string,
	input: unknown
): Promise<{ id: string }> {
	const { id } = parseInput(conversationIdInput, input);
	const row = await db
		.deleteFrom('conversations')
		.where('id', '=', id)
		.where('user_id', '=', userId)
		.returning('id')
		.executeTakeFirst();
	if (!row) throw notFound('That conversation does not exist.');
	return { id: row.id };
}

/**
 * Checks ownership and returns the history in order, for continuing a conversation: one statement
 * (the conversation left-joined with its messages, so an empty one still proves ownership).
 */
export async function loadHistory(
	db: Kysely<Database>,
	userId: string,
	conversationId: string
): Promise<{ role: 'user' | 'assistant'; content: string }[]> {
	const rows = await db
		.selectFrom('conversations')
		.leftJoin('messages', (join) =>
			join
				.onRef('messages.conversation_id', '=', 'conversations.id')
				// Failed assistant turns (no content) are not sent back to the model.
				.on((eb) => eb.or([eb('messages.role', '=', 'user'), eb('messages.content', '!=', '')]))
		)
		.select(['messages.role', 'messages.content'])
		.where('conversations.id', '=', conversationId)
		.where('conversations.user_id', '=', userId)
		.orderBy('messages.created_at')
		.orderBy('messages.id')
		.execute();
	if (rows.length === 0) throw notFound('That conversation does not exist.');
	const history: { role: 'user' | 'assistant'; content: string }[] = [];
	for (const { role, content } of rows) if (role !== null && content !== null) history.push({ role, content });
	return history;
}

export interface NewMessage {
	role: 'user' | 'assistant';
	content: string;
	model?: string;
	provider?: ProviderName | null;
	keySource?: KeySource | null;
	requestId?: string;
	promptTokens?: number;
	completionTokens?: number;
	costMicros?: number;
	estimated?: boolean;
	errorCode?: string | null;
	errorMessage?: string | null;
	fallbackReason?: string | null;
}

function messageValues(message: NewMessage) {
	return {
		role: message.role,
		content: message.content,
		model: message.model ?? null,
		provider: message.provider ?? null,
		key_source: message.keySource ?? null,
		request_id: message.requestId ?? null,
		prompt_tokens: message.promptTokens ?? null,
		completion_tokens: message.completionTokens ?? null,
		cost_micros: message.costMicros ?? null,
		estimated: message.estimated ?? null,
		error_code: message.errorCode ?? null,
		error_message: message.errorMessage ?? null,
		fallback_reason: message.fallbackReason ?? null
	};
}

/** Stores a message and bumps the conversation's `updated_at`, in one statement. Returns its id. */
export async function appendMessage(
	db: Kysely<Database>,
	conversationId: string,
	message: NewMessage
): Promise<string> {
	const row = await db
		.with('message', (qc) =>
			qc
				.insertInto('messages')
				.values({ conversation_id: conversationId, ...messageValues(message) })
				.returning(['id', 'conversation_id'])
		)
		.with('touched', (qc) =>
			qc
				.updateTable('conversations')
				.set({ updated_at: new Date() })
				.where('id', 'in', qc.selectFrom('message').select('conversation_id'))
		)
		.selectFrom('message')
		.select('id')
		.executeTakeFirstOrThrow();
	return row.id;
}

/**
 * A new conversation together with its first (user) message, in one statement: either both are
 * stored or neither is.
 */
export async function startConversation(
	db: Kysely<Database>,
	userId: string,
	input: { title: string; model: string; message: NewMessage }
): Promise<ConversationSummary & { messageId: string }> {
	const row = await db
		.with('conversation', (qc) =>
			qc
				.insertInto('conversations')
				.values({ user_id: userId, title: input.title.slice(0, MAX_TITLE_CHARS), model: input.model })
				.returning(SUMMARY_COLUMNS)
		)
		.with('message', (qc) =>
			qc
				.insertInto('messages')
				.values({
					conversation_id: qc.selectFrom('conversation').select('id'),
					...messageValues(input.message)
				})
				.returning('id')
		)
		.selectFrom('conversation')
		.crossJoin('message')
		.select([
			'conversation.id',
			'conversation.title',
			'conversation.model',
			'conversation.created_at',
			'conversation.updated_at',
			'message.id as message_id'
		])
		.executeTakeFirstOrThrow();
	return { ...toSummary(row), messageId: row.message_id };
}
