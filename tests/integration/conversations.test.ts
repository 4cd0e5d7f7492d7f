import { beforeAll, expect, it } from 'vitest';
import { signUp } from '$lib/server/auth';
import { appendMessage, loadThread, startConversation, titleFrom } from '$lib/server/conversations';
import { createCaller } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';

/** Where these sign-ups come from (sign-up is throttled per address). */
const LOCAL = { ip: '127.0.0.1' };

describeEachDatabase('conversations', (database) => {
	let services: Services;
	let alice: ReturnType<typeof createCaller>;
	let bob: ReturnType<typeof createCaller>;
	let aliceId: string;
	beforeAll(async () => {
		services = await testServices(database().handle);
		const a = await signUp(services, { email: 'alice@example.com', password: 'alice password' }, LOCAL);
		const b = await signUp(services, { email: 'bob@example.com', password: 'bob password!' }, LOCAL);
		aliceId = a.user.id;
		alice = createCaller({ services, user: a.user, sessionId: null, ip: '127.0.0.1', requestId: 't' });
		bob = createCaller({ services, user: b.user, sessionId: null, ip: '127.0.0.1', requestId: 't' });
	});

	it('keeps the history in order so a reload shows it', async () => {
		const conversation = await startConversation(services.db, aliceId, {
			title: 'Sorting',
			model: 'openai/gpt-4o-mini',
			message: { role: 'user', content: 'How do I sort a list?' }
		});
		await appendMessage(services.db, conversation.id, {
			role: 'assistant',
			content: 'Use sorted().',
			keySource: 'user',
			provider: 'openai',
			costMicros: 12
		});
		await appendMessage(services.db, conversation.id, {
			role: 'assistant',
			content: '',
			errorCode: 'upstream_error',
			errorMessage: 'OpenAI failed'
		});
		const loaded = await alice.conversations.get({ id: conversation.id });
		expect(loaded.messages.map((m) => [m.role, m.content])).toEqual([
			['user', 'How do I sort a list?'],
			['assistant', 'Use sorted().'],
			['assistant', '']
		]);
		expect(loaded.messages[1]).toMatchObject({ keySource: 'user', costMicros: 12 });
		// A failed, empty answer is not sent back to the model as context.
		expect((await loadThread(services.db, aliceId, conversation.id, undefined)).messages).toEqual([
			{ role: 'user', content: 'How do I sort a list?' },
			{ role: 'assistant', content: 'Use sorted().' }
		]);
		expect((await alice.conversations.list())[0]?.id).toBe(conversation.id);
	});

	it('renames and deletes, and hides one user’s conversations from another', async () => {
		const conversation = await startConversation(services.db, aliceId, {
			title: 'Private',
			model: 'openai/gpt-4o-mini',
			message: { role: 'user', content: 'Where shall we go?' }
		});
		await expect(bob.conversations.get({ id: conversation.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
		await expect(bob.conversations.rename({ id: conversation.id, title: 'Mine now' })).rejects.toMatchObject({
			code: 'NOT_FOUND'
		});
		await expect(bob.conversations.remove({ id: conversation.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
		expect((await bob.conversations.list()).map((c) => c.id)).not.toContain(conversation.id);

		expect((await alice.conversations.rename({ id: conversation.id, title: '  Trip   plans ' })).title).toBe(
			'Trip plans'
		);
		await alice.conversations.remove({ id: conversation.id });
		await expect(alice.conversations.get({ id: conversation.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
	});

	it('answers bad input with a clear 400', async () => {
		await expect(alice.conversations.get({ id: 'not-a-uuid' })).rejects.toMatchObject({
			code: 'BAD_REQUEST',
			message: 'Unknown conversation.'
		});
		const conversation = await startConversation(services.db, aliceId, {
			title: 'Keep',
			model: 'openai/gpt-4o-mini',
			message: { role: 'user', content: 'Hello' }
		});
		await expect(alice.conversations.rename({ id: conversation.id, title: '   ' })).rejects.toMatchObject({
			code: 'BAD_REQUEST'
		});
		await expect(alice.conversations.rename({ id: conversation.id, title: 'x'.repeat(201) })).rejects.toMatchObject({
			code: 'BAD_REQUEST'
		});
		expect((await alice.conversations.get({ id: conversation.id })).title).toBe('Keep');
	});

	it('titles a new conversation from the first line of the first message', () => {
		expect(titleFrom('  Plan a trip to Lisbon\nwith kids')).toBe('Plan a trip to Lisbon');
		expect(titleFrom('a'.repeat(80))).toHaveLength(61);
		expect(titleFrom('Explain the difference between processes and threads in operating systems please')).toBe(
			'Explain the difference between processes and threads in…'
		);
		expect(titleFrom('   ')).toBe('New chat');
	});
});
