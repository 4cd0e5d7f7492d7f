import { failureFromEvent, startChatTurn, type ChatTurnRequest } from '$lib/chat/client';
import type { ChatStreamEvent } from '$lib/chat/events';
import type { ChatMessageView } from './types';

/** What a turn tells the page beyond the answer itself. */
export interface TurnHooks {
	/** The conversation is known (created for this turn, or confirmed). */
	onconversation: (id: string, title: string, isNew: boolean) => void;
	/** The question was stored under this id. */
	onquestion: (id: string) => void;
}

/**
 * Runs one turn into `answer` (the page's reactive copy): deltas are added once per frame, the
 * key, usage and any failure are set as they arrive. `stop()` ends it; `done` settles when it is over.
 */
export function runTurn(
	request: ChatTurnRequest,
	answer: ChatMessageView,
	hooks: TurnHooks
): { stop(): void; done: Promise<void> } {
	// Deltas arrive faster than the screen repaints: add them to the answer once per frame.
	let pending = '';
	let frame = 0;
	const flush = () => {
		frame = 0;
		if (pending) answer.content += pending;
		pending = '';
	};

	const onEvent = (event: ChatStreamEvent) => {
		switch (event.type) {
			case 'conversation':
				hooks.onconversation(event.id, event.title, true);
				break;
			case 'meta':
				answer.provider = event.provider;
				answer.keySource = event.keySource;
				answer.model = event.model;
				answer.fallbackNotice = event.fallback?.message ?? null;
				if (event.conversationId) hooks.onconversation(event.conversationId, '', false);
				if (event.userMessageId) hooks.onquestion(event.userMessageId);
				if (event.answerId) answer.id = event.answerId;
				break;
			case 'delta':
				pending += event.text;
				if (!frame) frame = requestAnimationFrame(flush);
				break;
			case 'usage':
				flush();
				answer.promptTokens = event.promptTokens;
				answer.completionTokens = event.completionTokens;
				answer.costMicros = event.costMicros;
				answer.estimated = event.estimated;
				break;
			case 'error':
				flush();
				answer.failure = failureFromEvent(event);
				break;
			case 'done':
				flush();
				if (event.messageId) answer.id = event.messageId;
				break;
		}
	};

	const turn = startChatTurn(request, onEvent);
	const done = turn.result.then((result) => {
		if (frame) cancelAnimationFrame(frame);
		flush();
		answer.streaming = false;
		if (result.outcome === 'refused') {
			answer.failure = result.failure;
			if (result.answerId) answer.id = result.answerId;
			if (result.conversation) {
				const { id, title, isNew, userMessageId } = result.conversation;
				hooks.onconversation(id, title, isNew);
				if (userMessageId) hooks.onquestion(userMessageId);
			}
		} else if (result.outcome === 'stopped') {
			answer.failure = {
				kind: 'stopped',
				code: 'client_aborted',
				message: 'Stopped.',
				resetsAt: null,
				partial: answer.content.length > 0
			};
		} else if (result.outcome === 'failed') {
			answer.failure ??= result.failure;
		}
	});
	return { stop: () => turn.stop(), done };
}
