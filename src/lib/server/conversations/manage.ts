import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';
import { notFound } from '$lib/server/errors';
import { parseInput, userText } from '$lib/server/validation';
import {
	conversationIdInput,
	MAX_SYSTEM_PROMPT_CHARS,
	SUMMARY_COLUMNS,
	toSummary,
	type ConversationSummary
} from './store';
import { renameInput } from './titles';

/** What a person changes about their conversations: titles, system prompts, deleting. */

export const systemPromptText = userText(
	z
		.string({ invalid_type_error: 'The system prompt must be text.' })
		.max(
			MAX_SYSTEM_PROMPT_CHARS,
			`System prompts can be at most ${MAX_SYSTEM_PROMPT_CHARS.toLocaleString('en-US')} characters.`
		),
	'System prompts'
).transform((text) => text.trim());

export const systemPromptInput = z
	.object({ id: z.string().uuid({ message: 'Unknown conversation.' }), systemPrompt: systemPromptText })
	.strict();

export const deleteAllInput = z
	.object({ confirm: z.literal(true, { errorMap: () => ({ message: 'Confirm deleting every conversation.' }) }) })
	.strict();

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

/** The system prompt the next answers of a conversation follow ('' = none). */
export async function setSystemPrompt(
	db: Kysely<Database>,
	userId: string,
	input: unknown
): Promise<{ id: string; systemPrompt: string }> {
	const { id, systemPrompt } = parseInput(systemPromptInput, input);
	const row = await db
		.updateTable('conversations')
		.set({ system_prompt: systemPrompt })
		.where('id', '=', id)
		.where('user_id', '=', userId)
		.returning(['id', 'system_prompt'])
		.executeTakeFirst();
	if (!row) throw notFound('That conversation does not exist.');
	return { id: row.id, systemPrompt: row.system_prompt };
}

/** Deletes every conversation of the person (messages and images go with them); usage records stay. */
export async function deleteAllConversations(
	db: Kysely<Database>,
	userId: string,
	input: unknown
): Promise<{ deleted: number }> {
	parseInput(deleteAllInput, input);
	const result = await db.deleteFrom('conversations').where('user_id', '=', userId).executeTakeFirst();
	return { deleted: Number(result.numDeletedRows) };
}
