import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handleWebChat, type WebChatContext } from '$lib/server/chat';
import {
	branchOf,
	exportAllConversations,
	exportConversationMarkdown,
	getConversation,
	getMessageImage
} from '$lib/server/conversations';
import { httpErrorResponse } from '$lib/server/errors';
import { chatDeps, type Services } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

const MODEL = 'openai/gpt-4o-mini';
const TEXT_ONLY_MODEL = 'openrouter/meta-llama/llama-3.3-70b-instruct';
// A 1×1 PNG.
const PIXEL =
	'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

/** Edits and regenerations as branches, system prompts, images, search, export and delete-all. */
describeEachDatabase('web chat branches and conversation tools', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		services = await testServices(database().handle, fakeEnv(fake));
	});
	afterAll(async () => {
		await fake.close();
	});

	async function userWithKey(name: string): Promise<TestUser> {
		const user = await createUser(services.db, name);
		const key = testKey('openai', name);
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		return user;
	}

	const contextFor = (user: TestUser): WebChatContext => ({
		deps: chatDeps(services),
		userId: user.id,
		requestId: randomUUID(),
		signal: new AbortController().signal
	});

	/** One turn to the end, as the route answers it; returns the status and the body's text. */
	async function turn(user: TestUser, body: Record<string, unknown>) {
		const response = await handleWebChat(contextFor(user), { model: MODEL, ...body }).catch((error: unknown) =>
			httpErrorResponse(error, 'test')
		);
		return { status: response.status, text: await response.text() };
	}

	/** What the fake provider was last sent: its messages' roles and texts. */
	function lastPrompt() {
		const body = fake.requests.filter((r) => r.kind === 'chat').at(-1)?.body as {
			messages: { role: string; content: unknown }[];
		};
		return body.messages.map((m) => [m.role, typeof m.content === 'string' ? m.content : JSON.stringify(m.content)]);
	}

	const conversationOf = async (user: TestUser) => {
		const [row] = await services.db.selectFrom('conversations').select('id').where('user_id', '=', user.id).execute();
		return getConversation(services.db, user.id, { id: row!.id });
	};

	it('keeps an edited question and a regenerated answer as versions, and prompts with the branch only', async () => {
		const user = await userWithKey('branches');
		await turn(user, { content: 'First question' });
		let conversation = await conversationOf(user);
		const [q1, a1] = conversation.messages;
		await turn(user, { conversationId: conversation.id, parentId: a1!.id, content: 'Second question' });

		// Edit the second question: a sibling after the first answer, the original stays.
		await turn(user, { conversationId: conversation.id, parentId: a1!.id, content: 'Second question, edited' });
		expect(lastPrompt()).toEqual([
			['user', 'First question'],
			['assistant', a1!.content],
			['user', 'Second question, edited']
		]);
		conversation = await conversationOf(user);
		const children = conversation.messages.filter((m) => m.parentId === a1!.id).map((m) => m.content);
		expect(children).toEqual(['Second question', 'Second question, edited']);

		// Regenerate the first answer: same question, a new answer beside the old one.
		const before = conversation.messages.length;
		const regenerated = await turn(user, { conversationId: conversation.id, parentId: q1!.id, regenerate: true });
		expect(regenerated.status).toBe(200);
		expect(lastPrompt()).toEqual([['user', 'First question']]);
		conversation = await conversationOf(user);
		expect(conversation.messages).toHaveLength(before + 1);
		expect(conversation.messages.filter((m) => m.parentId === q1!.id)).toHaveLength(2);
		// The newest branch is what an export without a leaf shows.
		expect(branchOf(conversation.messages).map((m) => m.role)).toEqual(['user', 'assistant']);

		// Editing the very first question makes a second first message.
		await turn(user, { conversationId: conversation.id, parentId: null, content: 'A different start' });
		expect(lastPrompt()).toEqual([['user', 'A different start']]);
		conversation = await conversationOf(user);
		expect(conversation.messages.filter((m) => m.parentId === null).map((m) => m.content)).toEqual([
			'First question',
			'A different start'
		]);
	});

	it('refuses regenerating an answer, a parent from another conversation, and another person’s message', async () => {
		const user = await userWithKey('refusals');
		await turn(user, { content: 'Hello' });
		const conversation = await conversationOf(user);
		const answer = conversation.messages[1]!;
		const count = conversation.messages.length;
		const regenerateAnswer = await turn(user, {
			conversationId: conversation.id,
			parentId: answer.id,
			regenerate: true
		});
		expect(regenerateAnswer.status).toBe(400);
		expect(regenerateAnswer.text).toContain('Regenerate answers a question');
		const unknownParent = await turn(user, { conversationId: conversation.id, parentId: randomUUID(), content: 'x' });
		expect(unknownParent.status).toBe(404);
		// A message of the same person's other conversation is not a parent here either.
		await turn(user, { content: 'Another conversation' });
		const [otherConversation] = (await callerFor(services, user).conversations.list()).filter(
			(c) => c.id !== conversation.id
		);
		const elsewhere = (await getConversation(services.db, user.id, { id: otherConversation!.id })).messages[0]!;
		const crossed = await turn(user, { conversationId: conversation.id, parentId: elsewhere.id, content: 'x' });
		expect(crossed.status).toBe(404);

		const other = await userWithKey('refusals-other');
		const foreign = await turn(other, { conversationId: conversation.id, parentId: answer.id, content: 'Mine?' });
		expect(foreign.status).toBe(404);
		expect((await getConversation(services.db, user.id, { id: conversation.id })).messages).toHaveLength(count);
	});

	it('sends the system prompt first, and changes it for the next answers', async () => {
		const user = await userWithKey('system');
		const caller = callerFor(services, user);
		await turn(user, { content: 'Hi', systemPrompt: '  Answer like a pirate.  ' });
		expect(lastPrompt()[0]).toEqual(['system', 'Answer like a pirate.']);
		const conversation = await conversationOf(user);
		expect(conversation.systemPrompt).toBe('Answer like a pirate.');

		await caller.conversations.setSystemPrompt({ id: conversation.id, systemPrompt: 'Answer in French.' });
		await turn(user, { conversationId: conversation.id, content: 'Again' });
		expect(lastPrompt()[0]).toEqual(['system', 'Answer in French.']);
		await caller.conversations.setSystemPrompt({ id: conversation.id, systemPrompt: '' });
		await turn(user, { conversationId: conversation.id, content: 'Plain' });
		expect(lastPrompt()[0]?.[0]).toBe('user');

		await expect(
			caller.conversations.setSystemPrompt({ id: conversation.id, systemPrompt: 'x'.repeat(20_001) })
		).rejects.toThrow(/at most 20,000 characters/);
		const refused = await turn(user, { conversationId: conversation.id, content: 'x', systemPrompt: 'late' });
		expect(refused.status).toBe(400);
	});

	it('stores an attached image, sends it to a vision model, and refuses it for a text-only one', async () => {
		const user = await userWithKey('images');
		const sent = await turn(user, { content: 'What is this?', images: [{ dataUrl: PIXEL }] });
		expect(sent.status).toBe(200);
		const conversation = await conversationOf(user);
		// Only its owner gets the stored image back.
		const stored = await getMessageImage(services.db, user.id, conversation.messages[0]!.id, 0);
		expect(stored.mediaType).toBe('image/png');
		const stranger = await userWithKey('images-stranger');
		await expect(getMessageImage(services.db, stranger.id, conversation.messages[0]!.id, 0)).rejects.toThrow(
			'That image does not exist.'
		);
		// The fake's echo names the image it received.
		expect(conversation.messages[1]?.content).toContain('What is this?[image image/png 70 bytes]');
		expect(conversation.messages[0]?.images).toEqual([{ position: 0, mediaType: 'image/png' }]);

		// The next turn still shows the model the image (it is part of the branch).
		await turn(user, { conversationId: conversation.id, content: 'And its colour?' });
		expect(JSON.stringify(lastPrompt()[0])).toContain('data:image/png;base64,');

		const textOnly = await turn(user, {
			conversationId: conversation.id,
			model: TEXT_ONLY_MODEL,
			content: 'Look',
			images: [{ dataUrl: PIXEL }]
		});
		expect(textOnly.status).toBe(400);
		expect(textOnly.text).toContain('does not take images');
		// A PNG label on bytes that are not a PNG is refused before anything is stored or sent.
		const notPng = await turn(user, { content: 'x', images: [{ dataUrl: 'data:image/png;base64,PHN2Zz4=' }] });
		expect(notPng.status).toBe(400);
		expect(notPng.text).toContain('not a readable PNG file');
		const wrongType = await turn(user, { content: 'x', images: [{ dataUrl: 'data:image/svg+xml;base64,PHN2Zz4=' }] });
		expect(wrongType.status).toBe(400);
		expect(wrongType.text).toContain('attach PNG, JPEG, GIF or WebP');
		const tooMany = await turn(user, { content: 'x', images: Array.from({ length: 5 }, () => ({ dataUrl: PIXEL })) });
		expect(tooMany.status).toBe(400);
		expect(tooMany.text).toContain('at most 4 images');
		expect((await conversationOf(user)).messages).toHaveLength(4);

		// Switching the conversation to a model that reads no images: earlier images become a note.
		const openRouterKey = testKey('openrouter', 'images');
		fake.registerKey('openrouter', openRouterKey, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openrouter', apiKey: openRouterKey });
		const switched = await turn(user, {
			conversationId: conversation.id,
			model: TEXT_ONLY_MODEL,
			content: 'In words?'
		});
		expect(switched.status).toBe(200);
		const prompt = JSON.stringify(lastPrompt());
		expect(prompt).toContain('this model cannot see it');
		expect(prompt).not.toContain('data:image');
	});

	it('searches titles and messages, exports, and deletes everything of one person only', async () => {
		const user = await userWithKey('tools');
		const other = await userWithKey('tools-other');
		const caller = callerFor(services, user);
		await turn(user, { content: '# Plan a **trip** to Lisbon' });
		await turn(user, { content: 'Recipe for pastel de nata, 100% butter' });
		await turn(other, { content: 'Lisbon is mine too' });

		const conversations = await caller.conversations.list();
		expect(conversations.map((c) => c.title)).toContain('Plan a trip to Lisbon');
		expect((await caller.conversations.search({ query: 'LISBON' })).map((h) => h.title)).toEqual([
			'Plan a trip to Lisbon'
		]);
		const byContent = await caller.conversations.search({ query: '100%' });
		expect(byContent).toHaveLength(1);
		expect(byContent[0]?.snippet).toContain('100% butter');
		await expect(caller.conversations.search({ query: '   ' })).rejects.toThrow('Type something to search for.');

		const lisbon = conversations.find((c) => c.title === 'Plan a trip to Lisbon')!;
		const { markdown } = await exportConversationMarkdown(services.db, user.id, { id: lisbon.id });
		expect(markdown).toMatch(/^# Plan a trip to Lisbon\n/);
		expect(markdown).toContain('## You\n\n# Plan a **trip** to Lisbon');
		expect(markdown).toContain('## Assistant (openai/gpt-4o-mini, your key)');
		await expect(exportConversationMarkdown(services.db, other.id, { id: lisbon.id })).rejects.toThrow(
			'does not exist'
		);

		let json = '';
		for await (const part of exportAllConversations(services.db, user.id)) json += part;
		const all = JSON.parse(json) as { conversations: { messages: unknown[] }[] };
		expect(all.conversations).toHaveLength(2);
		expect(all.conversations.every((c) => c.messages.length === 2)).toBe(true);

		await expect(caller.conversations.removeAll({})).rejects.toThrow('Confirm deleting every conversation.');
		expect(await caller.conversations.removeAll({ confirm: true })).toEqual({ deleted: 2 });
		expect(await caller.conversations.list()).toEqual([]);
		expect(await callerFor(services, other).conversations.list()).toHaveLength(1);
		// Usage is financial history: it stays.
		const usage = await services.db.selectFrom('usage_records').select('id').where('user_id', '=', user.id).execute();
		expect(usage).toHaveLength(2);
	});
});
