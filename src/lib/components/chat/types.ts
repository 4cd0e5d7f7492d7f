import { failureFromStored, type ChatFailure } from '$lib/chat/client';
import type { KeySourceName, ProviderIdName } from '$lib/chat/events';
import { PROVIDER_NAMES } from '$lib/providers';
// Types only: erased from the browser bundle, so nothing server-side is shipped.
import type { StoredMessage } from '$lib/server/conversations';
import type { ModelOption } from '$lib/server/routing';

export type { ModelOption };

/** One message as the chat page shows it, live (streaming) or loaded from the history. */
export interface ChatMessageView {
	/** Stable key for the list and the tree, also before the server assigned an id. */
	key: string;
	/** The server's id, once known (edits and regenerations name their parent by it). */
	id: string | null;
	/** The key of the message this one follows; null for a first message. */
	parentKey: string | null;
	/** Attached images: where the page loads each from (a stored image's address, or a data: URL just attached). */
	images: string[];
	role: 'user' | 'assistant';
	content: string;
	model: string | null;
	provider: ProviderIdName | null;
	keySource: KeySourceName | null;
	promptTokens: number | null;
	completionTokens: number | null;
	costMicros: number | null;
	/** Tokens counted by Latchkey because the provider reported none. */
	estimated: boolean;
	/** Why another key than the first choice answered, in words. */
	fallbackNotice: string | null;
	failure: ChatFailure | null;
	streaming: boolean;
}

export interface ConversationItem {
	id: string;
	title: string;
}

export interface LoadedConversation {
	id: string;
	title: string;
	model: string;
	systemPrompt: string;
	messages: StoredMessage[];
}

/**
 * The stored history keeps only the fallback's reason code; these are the sentences for it
 * (the live stream carries the server's own sentence).
 */
export function fallbackNoticeOf(
	reason: string,
	provider: ProviderIdName | null,
	keySource: KeySourceName | null
): string {
	const name = provider ? PROVIDER_NAMES[provider] : 'the provider';
	const answered = keySource === 'app' ? "the app's key answered" : 'another of your keys answered';
	switch (reason) {
		case 'no_key':
			return `You have no ${name} key, so ${answered}.`;
		case 'key_invalid':
			return `Your ${name} key is marked invalid, so ${answered}. Replace or re-test it on the API keys page.`;
		case 'key_expired':
			return `Your ${name} key has expired, so ${answered}. Replace it or change its expiry on the API keys page.`;
		case 'key_rejected':
			return `${name} rejected your key, so ${answered}. Replace it on the API keys page.`;
		case 'rate_limited':
			return `${name} rate-limited your key, so ${answered}.`;
		case 'quota':
			return `Your ${name} account is out of credit or quota, so ${answered}.`;
		case 'timeout':
			return `${name} did not answer in time, so ${answered}.`;
		case 'own_limit_reached':
			return `You reached a limit on your own ${name} key, so ${answered}.`;
		default:
			return `${name} failed, so ${answered}.`;
	}
}

export const imageAddress = (messageId: string, position: number) => `/api/chat/images/${messageId}/${position}`;

export function messageFromStored(message: StoredMessage): ChatMessageView {
	return {
		key: message.id,
		id: message.id,
		parentKey: message.parentId,
		images: message.images.map((image) => imageAddress(message.id, image.position)),
		role: message.role,
		content: message.content,
		model: message.model,
		provider: message.provider,
		keySource: message.keySource,
		promptTokens: message.promptTokens,
		completionTokens: message.completionTokens,
		costMicros: message.costMicros,
		estimated: message.estimated ?? false,
		fallbackNotice: message.fallbackReason
			? fallbackNoticeOf(message.fallbackReason, message.provider, message.keySource)
			: null,
		failure: message.errorCode
			? failureFromStored(message.errorCode, message.errorMessage, message.content.length > 0)
			: null,
		streaming: false
	};
}

/** Whether a model can be chosen now: some key can serve it (none is `unavailable` or capped for today). */
export const isSelectable = (model: ModelOption): boolean =>
	model.keySource !== 'unavailable' && model.servedBy !== null;

/** The model a new chat starts with: the conversation's, else the first served by the user's key, else any usable one. */
export function initialModel(models: ModelOption[], preferred: string | null | undefined): string | null {
	if (preferred && models.some((m) => m.id === preferred)) return preferred;
	const usable = models.filter(isSelectable);
	return (usable.find((m) => m.keySource === 'user') ?? usable[0] ?? models[0])?.id ?? null;
}
