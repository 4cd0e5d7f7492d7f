import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database, KeySource, ProviderName } from '$lib/server/db';
import { notFound } from '$lib/server/errors';
import { parseInput } from '$lib/server/validation';

/** Stored chats, so a reload shows the history. Every query is scoped to the owner. */

export const MAX_MESSAGE_CHARS = 100_000;
export const MAX_TITLE_CHARS = 200;
export const MAX_SYSTEM_PROMPT_CHARS = 20_000;

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
	/** The message this one follows (edits and regenerations are siblings); null for the first. */
	parentId: string | null;
	/** Attached images, served by `GET /api/chat/images/<message id>/<position>`. */
	images: { position: number; mediaType: string }[];
	createdAt: Date;
}

/** An image to store with a user message: its type and bytes (checked by the caller). */
export interface NewImage {
	mediaType: string;
	base64: string;
}

const uuid = z.string().uuid({ message: 'Unknown conversation.' });
export const conversationIdInput = z.object({ id: uuid }).strict();
export const SUMMARY_COLUMNS = ['id', 'title', 'model', 'created_at', 'updated_at'] as const;

export function toSummary(row: {
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
): Promise<ConversationSummary & { systemPrompt: string; messages: StoredMessage[] }> {
	const { id } = parseInput(conversationIdInput, input);
	const conversation = await db
		.selectFrom('conversations')
		.select(['id', 'title', 'model', 'system_prompt', 'created_at', 'updated_at'])
		.where('id', '=', id)
		.where('user_id', '=', userId)
		.executeTakeFirst();
	if (!conversation) throw notFound('That conversation does not exist.');
	const [messages, images] = await Promise.all([
		db
			.selectFrom('messages')
			.selectAll()
			.where('conversation_id', '=', id)
			.orderBy('created_at')
			.orderBy('id')
			.execute(),
		db
			.selectFrom('message_images')
			.innerJoin('messages', 'messages.id', 'message_images.message_id')
			.select(['message_images.message_id', 'message_images.position', 'message_images.media_type'])
			.where('messages.conversation_id', '=', id)
			.orderBy('message_images.position')
			.execute()
	]);
	const imagesOf = new Map<string, { position: number; mediaType: string }[]>();
	for (const image of images) {
		const list = imagesOf.get(image.message_id) ?? [];
		list.push({ position: image.position, mediaType: image.media_type });
		imagesOf.set(image.message_id, list);
	}
	return {
		id: conversation.id,
		title: conversation.title,
		model: conversation.model,
		systemPrompt: conversation.system_prompt,
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
			parentId: m.parent_id,
			images: imagesOf.get(m.id) ?? [],
			createdAt: m.created_at
		}))
	};
}

export interface NewMessage {
	/** Chosen by the caller when the page must know it before the message is stored (an answer). */
	id?: string;
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
	/** The message this one follows: null for none; absent, the conversation's newest message. */
	parentId?: string | null;
	images?: NewImage[];
}

function messageValues(message: NewMessage) {
	return {
		...(message.id ? { id: message.id } : {}),
		parent_id: message.parentId ?? null,
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

const imageRows = (messageId: string, images: NewImage[]) =>
	images.map((image, position) => ({
		message_id: messageId,
		position,
		media_type: image.mediaType,
		data: Buffer.from(image.base64, 'base64')
	}));

/**
 * Stores a message and bumps the conversation's `updated_at`, in one statement (a transaction
 * when it carries images). Returns its id.
 */
export async function appendMessage(
	db: Kysely<Database>,
	conversationId: string,
	message: NewMessage
): Promise<string> {
	const images = message.images ?? [];
	if (images.length > 0) {
		return db.transaction().execute(async (trx) => {
			const id = await appendMessage(trx, conversationId, { ...message, images: [] });
			await trx.insertInto('message_images').values(imageRows(id, images)).execute();
			return id;
		});
	}
	const row = await db
		.with('message', (qc) =>
			qc
				.insertInto('messages')
				.values({
					conversation_id: conversationId,
					...messageValues(message),
					parent_id:
						message.parentId !== undefined
							? message.parentId
							: qc
									.selectFrom('messages')
									.select('id')
									.where('conversation_id', '=', conversationId)
									.orderBy('created_at', 'desc')
									.orderBy('id', 'desc')
									.limit(1)
				})
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
 * A new conversation together with its first (user) message, in one statement (a transaction
 * when it carries images): either both are stored or neither is.
 */
export async function startConversation(
	db: Kysely<Database>,
	userId: string,
	input: { title: string; model: string; systemPrompt?: string; message: NewMessage }
): Promise<ConversationSummary & { messageId: string }> {
	const images = input.message.images ?? [];
	if (images.length > 0) {
		return db.transaction().execute(async (trx) => {
			const started = await startConversation(trx, userId, { ...input, message: { ...input.message, images: [] } });
			await trx.insertInto('message_images').values(imageRows(started.messageId, images)).execute();
			return started;
		});
	}
	const row = await db
		.with('conversation', (qc) =>
			qc
				.insertInto('conversations')
				.values({
					user_id: userId,
					title: input.title.slice(0, MAX_TITLE_CHARS),
					model: input.model,
					system_prompt: input.systemPrompt ?? ''
				})
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
