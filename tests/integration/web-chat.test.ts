import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import { handleWebChat, type WebChatContext } from '$lib/server/chat';
import { chatDeps, type Services } from '$lib/server/services';
import { startFakeProviders, usageFor, type FakeProviders } from '../fakes/server';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from './keys-fixtures';

const MODEL = 'openai/gpt-4o-mini';

describeEachDatabase('web chat turns', (database) => {
	let fake: FakeProviders;
	let services: Services;

	beforeAll(async () => {
		fake = await startFakeProviders();
		// No app key: a user without an OpenAI key cannot be answered.
		services = await testServices(database().handle, fakeEnv(fake));
	});
	afterAll(async () => {
		await fake.close();
	});

	async function userWithKey(name: string, slow = false): Promise<TestUser> {
		const user = await createUser(services.db, name);
		const key = testKey('openai', 'wc');
		fake.registerKey('openai', key, 'ok');
		await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey: key });
		if (slow)
			fake.registerKey('openai', key, { behaviour: 'ok', chunkDelayMs: 200, reply: 'one two three four five six' });
		return user;
	}

	const contextFor = (user: TestUser): WebChatContext => ({
		deps: chatDeps(services),
		userId: user.id,
		requestId: randomUUID(),
		signal: new AbortController().signal
	});

	const conversationsOf = (user: TestUser) =>
		services.db.selectFrom('conversations').select(['id', 'title']).where('user_id', '=', user.id).execute();

	const messagesOf = (conversationId: string) =>
		services.db
			.selectFrom('messages')
			.select(['role', 'content', 'error_code'])
			.where('conversation_id', '=', conversationId)
			.orderBy('created_at')
			.orderBy('id')
			.execute();

	const usageOf = (requestId: string) =>
		services.db.selectFrom('usage_records').selectAll().where('request_id', '=', requestId).execute();

	it('stores a new conversation with the question, then the answer, and continues it with its history', async () => {
		const user = await userWithKey('newturn');
		const first = contextFor(user);
		const response = await handleWebChat(first, { model: MODEL, content: 'What is a latchkey?\nShort, please.' });
		expect(response.status).toBe(200);
		const body = await response.text();
		expect(body).toContain('event: conversation');
		expect(body).toContain('event: done');
		const [conversation] = await conversationsOf(user);
		expect(conversation?.title).toBe('What is a latchkey?');
		const id = conversation?.id ?? '';
		expect(body).toContain(`"id":"${id}"`);
		const stored = await messagesOf(id);
		expect(stored.map((m) => m.role)).toEqual(['user', 'assistant']);
		expect(stored[0]?.content).toBe('What is a latchkey?\nShort, please.');
		expect(stored[1]?.content).toContain('Hello from fake-openai');
		// The usage record is written while the last event goes out, so it may land just after.
		await expect.poll(() => usageOf(first.requestId)).toMatchObject([{ success: true, api: 'web' }]);

		const next = contextFor(user);
		const second = await handleWebChat(next, { conversationId: id, model: MODEL, content: 'And a key?' });
		expect(second.status).toBe(200);
		expect(await second.text()).not.toContain('event: conversation');
		// The fake counts the prompt it was sent: the stored turn went along with the new question.
		const history = [stored[0]?.content ?? '', stored[1]?.content ?? '', 'And a key?'];
		await expect
			.poll(async () => (await usageOf(next.requestId))[0]?.prompt_tokens)
			.toBe(usageFor(history, '').promptTokens);
		expect((await messagesOf(id)).map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
	});

	it("refuses to continue another user's conversation, storing and billing nothing", async () => {
		const owner = await userWithKey('owner');
		await (await handleWebChat(contextFor(owner), { model: MODEL, content: 'Mine' })).text();
		const [conversation] = await conversationsOf(owner);
		const id = conversation?.id ?? '';
		const intruder = await userWithKey('intruder');
		const context = contextFor(intruder);
		await expect(
			handleWebChat(context, { conversationId: id, model: MODEL, content: 'Let me in' })
		).rejects.toMatchObject({ code: 'not_found' });
		expect((await messagesOf(id)).map((m) => m.content)).not.toContain('Let me in');
		expect(await usageOf(context.requestId)).toEqual([]);
	});

	it('keeps the conversation and the refusal when the chat cannot start', async () => {
		const user = await createUser(services.db, 'nokey');
		const response = await handleWebChat(contextFor(user), { model: MODEL, content: 'Anyone there?' });
		expect(response.status).toBe(400);
		const payload = (await response.json()) as { error: { code: string }; conversation: { id: string } };
		const [conversation] = await conversationsOf(user);
		expect(payload.conversation.id).toBe(conversation?.id);
		expect(await messagesOf(payload.conversation.id)).toEqual([
			{ role: 'user', content: 'Anyone there?', error_code: null },
			{ role: 'assistant', content: '', error_code: 'no_key' }
		]);
	});

	it('still settles and records a chat whose question could not be stored, and stores none of it', async () => {
		await sql`
			create function refuse_test_poison() returns trigger language plpgsql as $$
			begin
				if new.content = 'poison' then raise exception 'refused by the test'; end if;
				return new;
			end $$`.execute(services.db);
		await sql`create trigger refuse_test_poison before insert on messages
			for each row execute function refuse_test_poison()`.execute(services.db);
		try {
			const user = await userWithKey('poison', true);
			const context = contextFor(user);
			await expect(handleWebChat(context, { model: MODEL, content: 'poison' })).rejects.toThrow(/refused by the test/);
			expect(await conversationsOf(user)).toEqual([]);
			const usage = await usageOf(context.requestId);
			expect(usage).toHaveLength(1);
			expect(usage[0]).toMatchObject({ success: false, user_id: user.id });
			const reservations = await services.db
				.selectFrom('limit_reservations')
				.select('outcome')
				.where('user_id', '=', user.id)
				.execute();
			expect(reservations).toHaveLength(1);
			expect(reservations[0]?.outcome).not.toBeNull();
		} finally {
			await sql`drop trigger refuse_test_poison on messages`.execute(services.db);
			await sql`drop function refuse_test_poison()`.execute(services.db);
		}
	});
});
