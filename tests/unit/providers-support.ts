// Shared by the providers*.test.ts files: the fakes, keys, and draining an adapter's events.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import {
	getAdapter,
	ProviderError,
	type ChatCall,
	type ChatMessage,
	type ProviderEvent,
	type ProviderId
} from '$lib/server/providers';
import { startFakeProviders, type BehaviourSpec, type FakeProviders, type FakeRequest } from '../fakes/server';

export const PROVIDERS: readonly ProviderId[] = ['openai', 'anthropic', 'google', 'openrouter'];

/** A model each fake knows, as the provider's own API names it (Anthropic: a dated snapshot id). */
export const MODEL: Readonly<Record<ProviderId, string>> = {
	openai: 'gpt-4o-mini',
	anthropic: 'claude-sonnet-4-20250514',
	google: 'gemini-2.5-flash',
	openrouter: 'openai/gpt-4o-mini'
};

const KEY_PREFIX: Readonly<Record<ProviderId, string>> = {
	openai: 'sk-proj',
	anthropic: 'sk-ant-api03',
	google: 'AIzaSy',
	openrouter: 'sk-or-v1'
};

export const PROMPT = 'What is the capital of France?';
export const MESSAGES: ChatMessage[] = [
	{ role: 'system', content: 'Be brief.' },
	{ role: 'user', content: 'Hello there' },
	{ role: 'assistant', content: 'Hi! How can I help?' },
	{ role: 'user', content: PROMPT }
];
/** The prompt texts as the fakes count them (the system prompt is one message). */
export const PROMPT_TEXTS = MESSAGES.map((m) => (typeof m.content === 'string' ? m.content : ''));

/** Starts the fakes for the calling test file and resets them before each test. */
export function useFakeProviders(): { readonly fake: FakeProviders } {
	const holder: { fake?: FakeProviders } = {};
	beforeAll(async () => {
		holder.fake = await startFakeProviders();
	});
	afterAll(async () => {
		await holder.fake?.close();
	});
	beforeEach(() => {
		holder.fake?.reset();
	});
	return {
		get fake(): FakeProviders {
			if (!holder.fake) throw new Error('fake providers not started');
			return holder.fake;
		}
	};
}

/** A long, unique, realistic-looking key, registered with the fake unless `register` is false. */
export function newKey(
	fake: FakeProviders,
	provider: ProviderId,
	behaviour: BehaviourSpec | BehaviourSpec['behaviour'] = 'ok',
	register = true
): string {
	const key = `${KEY_PREFIX[provider]}-${randomBytes(30).toString('base64url')}`;
	if (register) fake.registerKey(provider, key, behaviour);
	return key;
}

export function callFor(provider: ProviderId, apiKey: string, overrides: Partial<ChatCall> = {}): ChatCall {
	return {
		apiKey,
		model: MODEL[provider],
		messages: MESSAGES,
		maxOutputTokens: 256,
		stream: true,
		signal: new AbortController().signal,
		timeoutMs: 5000,
		...overrides
	};
}

export interface Drained {
	events: ProviderEvent[];
	text: string;
	deltas: string[];
	error: unknown;
}

/** Every event until the call ends or throws; `onEvent` may act mid-stream (abort, stop reading). */
export async function drain(
	fake: FakeProviders,
	provider: ProviderId,
	call: ChatCall,
	onEvent?: (event: ProviderEvent) => 'stop' | void
): Promise<Drained> {
	const events: ProviderEvent[] = [];
	let error: unknown;
	try {
		for await (const event of getAdapter(provider).chat(call, fake.baseUrls[provider])) {
			events.push(event);
			if (onEvent?.(event) === 'stop') break;
		}
	} catch (caught) {
		error = caught;
	}
	const deltas = events.flatMap((e) => (e.type === 'delta' ? [e.text] : []));
	return { events, deltas, text: deltas.join(''), error };
}

export function providerError(value: unknown): ProviderError {
	if (value instanceof ProviderError) return value;
	throw new Error(`expected a ProviderError, got ${String(value)}`);
}

export function lastChat(fake: FakeProviders): FakeRequest {
	const entry = fake.requests.filter((r) => r.kind === 'chat').at(-1);
	if (!entry) throw new Error('no chat request logged');
	return entry;
}

export async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}
