import type { Kysely } from 'kysely';
import type { Config } from '$lib/server/config';
import type { Database, KeySource } from '$lib/server/db';
import type { AppError } from '$lib/server/errors';
import type { Logger } from '$lib/server/log';
import type { CatalogModel } from '$lib/server/catalog';
import type { ChatMessage, FinishReason, GenerationOptions, ProviderError, ProviderId } from '$lib/server/providers';
import type { Keyring } from '$lib/server/vault';
import type { UsageRecord, UsageWriter } from '$lib/server/usage';
import type { ActiveChats } from './active';
import type { FallbackReason } from './messages';
import type { Principal } from './prepare';

export interface ChatRequest {
	principal: Principal;
	/** Public model id, `provider/model`. */
	modelId: string;
	messages: ChatMessage[];
	maxOutputTokens?: number;
	/** Sampling, tools, output format, reasoning: passed to the adapter that serves the request. */
	options?: GenerationOptions;
	stream: boolean;
	api: 'web' | 'openai';
	requestId: string;
	/** Aborts when the client goes away. */
	signal: AbortSignal;
}

/** Observers for metrics and logs; every hook is optional and must not throw. */
export interface RoutingHooks {
	attemptFailed?(info: {
		provider: ProviderId;
		keySource: KeySource;
		failure: ProviderError['failure'];
		afterFirstToken: boolean;
	}): void;
	fellBack?(info: { provider: ProviderId; reason: FallbackReason }): void;
	refused?(info: { provider: ProviderId; keySource: KeySource; code: string }): void;
	completed?(record: UsageRecord): void;
	streamOpened?(): void;
	streamClosed?(): void;
	/** A reservation was admitted; closed once its settle or release is written (or given up). */
	reservationOpened?(): void;
	reservationClosed?(): void;
}

export interface ChatDeps {
	db: Kysely<Database>;
	config: Config;
	keyring: Keyring;
	usageWriter: UsageWriter;
	log: Logger;
	hooks?: RoutingHooks;
	/** The requests in flight in this process, which graceful shutdown stops and waits for. */
	activeChats?: ActiveChats;
}

export interface FinalUsage {
	promptTokens: number;
	completionTokens: number;
	/** Parts of the totals the provider reported (cache reads and writes, reasoning). */
	cachedReadTokens?: number;
	cacheWriteTokens?: number;
	reasoningTokens?: number;
	costMicros: number;
	/** false: the model has no known price; `costMicros` is 0. Absent means known. */
	costKnown?: boolean;
	estimated: boolean;
}

export type SessionEvent =
	| { type: 'delta'; text: string }
	/** A piece of a tool call, as the adapter yields it (see ProviderEvent). */
	| { type: 'tool_call'; index: number; id?: string; name?: string; arguments: string }
	| { type: 'done'; finishReason: FinishReason; usage: FinalUsage }
	| { type: 'error'; error: AppError; usage: FinalUsage };

export interface ChatSession {
	requestId: string;
	model: CatalogModel;
	keySource: KeySource;
	servedBy: ProviderId;
	fallback: { reason: FallbackReason; message: string } | null;
	/** delta and tool_call… then exactly one `done` or `error`. Stop iterating (return()) to abort. */
	events: AsyncGenerator<SessionEvent, void, undefined>;
	/** Stops the upstream call now (client went away); the events then end and settle. */
	abort(): void;
}
