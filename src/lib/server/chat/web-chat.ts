import { randomUUID } from 'node:crypto';
import { getModel } from '$lib/server/catalog';
import { appendMessage, loadThread, startConversation, titleFrom, type NewImage } from '$lib/server/conversations';
import { badRequest, httpErrorOf, isAppError } from '$lib/server/errors';
import type { ChatMessage } from '$lib/server/providers';
import { startChat, type ChatDeps, type ChatSession } from '$lib/server/routing';
import { parseInput } from '$lib/server/validation';
import { imagesOf, webChatInput, type WebChatInput } from './input';
import { answerStream, type AnswerPlace } from './stream';

/**
 * `POST /api/chat`: one turn of a stored conversation, answered as Server-Sent Events
 * (`conversation`, `meta`, `delta`…, `usage`, `error`, `done`; see $lib/chat/events.ts).
 * Failures before the answer starts are plain HTTP errors (400, 402, 429 with retry-after, 502),
 * recorded in the conversation so a reload shows what happened.
 */

export interface WebChatContext {
	deps: ChatDeps;
	userId: string;
	requestId: string;
	signal: AbortSignal;
}

/** The prompt of this turn and a promise that stores its question (or, regenerating, nothing). */
interface PreparedTurn {
	prompt: ChatMessage[];
	stored: Promise<AnswerPlace>;
}

function questionOf(text: string, images: NewImage[]): ChatMessage {
	if (images.length === 0) return { role: 'user', content: text };
	return {
		role: 'user',
		content: [
			...(text ? [{ type: 'text' as const, text }] : []),
			...images.map((image) => ({
				type: 'image' as const,
				image: { kind: 'data' as const, mediaType: image.mediaType, base64: image.base64 }
			}))
		]
	};
}

const takesImages = (modelId: string) => getModel(modelId)?.input.includes('image') ?? true;

function refuseImagesToTextModel(modelId: string, images: NewImage[]): void {
	const model = getModel(modelId);
	if (images.length > 0 && model && !model.input.includes('image')) {
		throw badRequest(`${model.displayName} does not take images. Pick a model marked “images”, or send text only.`, {
			reason: 'model_not_vision'
		});
	}
}

/**
 * Earlier images of the branch, for a model that reads none (the person switched models): each
 * becomes a note in words, so the conversation goes on instead of failing at the provider.
 */
function withoutImages(messages: ChatMessage[]): ChatMessage[] {
	return messages.map((message) => {
		if (message.role !== 'user' || typeof message.content === 'string') return message;
		const text = message.content
			.map((part) => (part.type === 'text' ? part.text : '[An image was attached here; this model cannot see it.]'))
			.join('\n');
		return { role: 'user', content: text };
	});
}

async function prepareTurn(ctx: WebChatContext, input: WebChatInput, images: NewImage[]): Promise<PreparedTurn> {
	const { db } = ctx.deps;
	const content = input.content ?? '';
	const question = { role: 'user', content, model: input.model, images } as const;
	if (!input.conversationId) {
		const systemPrompt = input.systemPrompt ?? '';
		return {
			prompt: [
				...(systemPrompt ? [{ role: 'system' as const, content: systemPrompt }] : []),
				questionOf(content, images)
			],
			stored: startConversation(db, ctx.userId, {
				title: titleFrom(content || 'Image'),
				model: input.model,
				systemPrompt,
				message: question
			}).then((created) => ({
				conversation: { id: created.id, title: created.title, isNew: true },
				userMessageId: created.messageId,
				parentId: created.messageId,
				answerId: randomUUID()
			}))
		};
	}
	const id = input.conversationId;
	// The branch (which also proves ownership) is the prompt, so it comes first.
	const thread = await loadThread(db, ctx.userId, id, input.parentId);
	const history = takesImages(input.model) ? thread.messages : withoutImages(thread.messages);
	const system = thread.systemPrompt ? [{ role: 'system' as const, content: thread.systemPrompt }] : [];
	if (input.regenerate) {
		if (thread.last?.role !== 'user') throw badRequest('Regenerate answers a question: pick one of your messages.');
		const parentId = thread.last.id;
		return {
			prompt: [...system, ...history],
			stored: Promise.resolve({
				conversation: { id, title: '', isNew: false },
				userMessageId: null,
				parentId,
				answerId: randomUUID()
			})
		};
	}
	return {
		prompt: [...system, ...history, questionOf(content, images)],
		stored: appendMessage(db, id, { ...question, parentId: thread.last?.id ?? null }).then((messageId) => ({
			conversation: { id, title: '', isNew: false },
			userMessageId: messageId,
			parentId: messageId,
			answerId: randomUUID()
		}))
	};
}

export async function handleWebChat(ctx: WebChatContext, body: unknown): Promise<Response> {
	const input = parseInput(webChatInput, body);
	const images = imagesOf(input);
	refuseImagesToTextModel(input.model, images);
	const { db } = ctx.deps;
	const turn = await prepareTurn(ctx, input, images);
	// Storing the question runs while routing plans, admits and opens the provider call: it is not
	// on the way to the first token. Both are awaited before anything is answered.
	const started = startChat(ctx.deps, {
		principal: { kind: 'session', userId: ctx.userId },
		modelId: input.model,
		messages: turn.prompt,
		maxOutputTokens: input.maxTokens,
		stream: true,
		api: 'web',
		requestId: ctx.requestId,
		signal: ctx.signal
	});
	const [storing, starting] = await Promise.allSettled([turn.stored, started]);

	if (storing.status === 'rejected') {
		// The question could not be stored, so the request fails with that error. A chat that did
		// start is stopped; routing still settles it and writes its usage record.
		if (starting.status === 'fulfilled') await discard(starting.value);
		throw storing.reason;
	}
	const place = storing.value;

	if (starting.status === 'rejected') {
		const error: unknown = starting.reason;
		const appError = isAppError(error) ? error : undefined;
		const answerId = await appendMessage(db, place.conversation.id, {
			role: 'assistant',
			content: '',
			model: input.model,
			requestId: ctx.requestId,
			errorCode: appError?.reason ?? appError?.code ?? 'internal',
			errorMessage: appError?.message ?? 'Something went wrong on our side.',
			parentId: place.parentId,
			id: place.answerId
		}).catch(() => null);
		if (!appError) throw error;
		const { status, headers, body: errorBody } = httpErrorOf(appError, ctx.requestId);
		// `details` tells the page which limit was hit and when it resets (details.resetsAt).
		const payload = {
			error: { ...errorBody.error, details: appError.details ?? null },
			conversation: { ...place.conversation, userMessageId: place.userMessageId },
			answerId
		};
		return new Response(JSON.stringify(payload), { status, headers });
	}
	const session = starting.value;

	return new Response(answerStream(ctx, session, place, input.model), {
		headers: {
			'content-type': 'text/event-stream; charset=utf-8',
			'cache-control': 'no-store',
			'x-accel-buffering': 'no',
			'x-key-source': session.keySource,
			'x-request-id': ctx.requestId
		}
	});
}

/** Stops a chat nobody will read and runs its events to the end, so its bookkeeping happens. */
async function discard(session: ChatSession): Promise<void> {
	session.abort();
	for (let next = await session.events.next(); !next.done; next = await session.events.next()) {
		// Nothing to forward.
	}
}
