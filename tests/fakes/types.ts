// Shared types of the fake provider server. See README.md for the overview.
import type { Behaviour, BehaviourSpec } from './behaviours';

export type ProviderName = 'openai' | 'anthropic' | 'google' | 'openrouter';
export const PROVIDER_NAMES: readonly ProviderName[] = ['openai', 'anthropic', 'google', 'openrouter'];

export function isProviderName(value: unknown): value is ProviderName {
	return typeof value === 'string' && (PROVIDER_NAMES as readonly string[]).includes(value);
}

/** What kind of provider endpoint a request hit. */
export type RequestKind = 'chat' | 'models' | 'key';

/** One entry of the request log. Mutated in place while the exchange runs. */
export interface FakeRequest {
	/** Sequence number, 1-based, unique per server (not reset by reset()). */
	seq: number;
	provider: ProviderName;
	kind: RequestKind;
	method: string;
	/** Path without the query string (Google also accepts `?key=`; it must never reach a log). */
	path: string;
	model?: string;
	/** Last 4 characters of the key, '' if the key is missing or shorter than 8 characters. */
	key: string;
	stream: boolean;
	/** The key's registered behaviour, or 'unknown_key' when the key is missing or not registered. */
	behaviour: Behaviour | 'unknown_key';
	/** HTTP status sent, once headers went out. */
	status?: number;
	startedAt: number;
	/** When the response headers were sent. */
	firstByteAt?: number;
	/** When the response closed, whoever closed it. */
	endedAt?: number;
	/** The client went away before the fake had sent its whole response. */
	closedByClient: boolean;
	/** The fake sent its whole response (any status) without being cut short. */
	completed: boolean;
	/** The parsed JSON request body, if any. */
	body?: unknown;
}

export interface FakeBaseUrls {
	openai: string;
	anthropic: string;
	google: string;
	openrouter: string;
}

export interface FakeProviders {
	/** http://HOST:PORT */
	url: string;
	/** Base URLs in each SDK's own convention. */
	baseUrls: FakeBaseUrls;
	/** Register (or re-register, replacing the behaviour of) a key. */
	registerKey(provider: ProviderName, key: string, behaviour?: Behaviour | BehaviourSpec): void;
	/** Lists (and answers) a new model from now on, as if the provider had just released it; reset forgets it. */
	addModel(
		provider: ProviderName,
		id: string,
		options: { name: string; contextLength: number; inMicrosPerMTok: number; outMicrosPerMTok: number }
	): void;
	/** Log of every chat/models/key request, newest last. Same array for the server's lifetime. */
	readonly requests: FakeRequest[];
	/** Forget all keys and empty the request log. */
	reset(): void;
	/** Close the server and destroy open sockets. */
	close(): Promise<void>;
}
