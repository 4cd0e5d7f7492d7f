// Behaviours a registered key can have, and the registry of keys.
import type { ProviderName } from './types';

export const BEHAVIOURS = [
	'ok',
	'401',
	'403',
	'429',
	'quota',
	'500',
	'503',
	'slow',
	'reset',
	'reset_before',
	'malformed',
	'no_usage',
	'midstream_error'
] as const;

export type Behaviour = (typeof BEHAVIOURS)[number];

export interface BehaviourSpec {
	behaviour: Behaviour;
	/** Reply text instead of the default deterministic reply. */
	reply?: string;
	/** Wait before sending response headers. Default 3000 for 'slow', 0 otherwise. */
	firstByteDelayMs?: number;
	/** Stream: wait after the headers and the opening frames, before the first content. Default 0. */
	firstTokenDelayMs?: number;
	/** Wait between stream chunks. Default 0. */
	chunkDelayMs?: number;
	/** Words per stream chunk (1: one chunk per token, as providers stream). Default 3. */
	wordsPerChunk?: number;
	/** Value of the retry-after header for '429'. Default 1. */
	retryAfterSeconds?: number;
	/** Usage to report instead of the true one (a hostile or broken provider, e.g. 1e300 tokens). */
	reportUsage?: { promptTokens: number; completionTokens: number };
	/** Replaces the provider's machine code in this key's error answers (a hostile or unknown code). */
	errorCode?: string;
	/** Of the prompt, this many tokens were read from the provider's prompt cache / written to it. */
	cachedReadTokens?: number;
	cacheWriteTokens?: number;
	/** The model also "thought" this many tokens (billed as output). */
	reasoningTokens?: number;
}

/** A behaviour with every default filled in. */
export interface ResolvedBehaviour {
	behaviour: Behaviour;
	reply?: string;
	firstByteDelayMs: number;
	firstTokenDelayMs: number;
	chunkDelayMs: number;
	wordsPerChunk?: number;
	retryAfterSeconds: number;
	reportUsage?: { promptTokens: number; completionTokens: number };
	errorCode?: string;
	cachedReadTokens?: number;
	cacheWriteTokens?: number;
	reasoningTokens?: number;
}

export const DEFAULT_SLOW_DELAY_MS = 3000;

export function isBehaviour(value: unknown): value is Behaviour {
	return typeof value === 'string' && (BEHAVIOURS as readonly string[]).includes(value);
}

export function resolveBehaviour(input: Behaviour | BehaviourSpec = 'ok'): ResolvedBehaviour {
	const spec: BehaviourSpec = typeof input === 'string' ? { behaviour: input } : input;
	if (!isBehaviour(spec.behaviour)) throw new Error(`unknown behaviour: ${String(spec.behaviour)}`);
	const defaultDelay = spec.behaviour === 'slow' ? DEFAULT_SLOW_DELAY_MS : 0;
	return {
		behaviour: spec.behaviour,
		reply: spec.reply,
		firstByteDelayMs: nonNegative(spec.firstByteDelayMs, 'firstByteDelayMs') ?? defaultDelay,
		firstTokenDelayMs: nonNegative(spec.firstTokenDelayMs, 'firstTokenDelayMs') ?? 0,
		chunkDelayMs: nonNegative(spec.chunkDelayMs, 'chunkDelayMs') ?? 0,
		...(spec.wordsPerChunk ? { wordsPerChunk: Math.max(1, Math.floor(spec.wordsPerChunk)) } : {}),
		retryAfterSeconds: nonNegative(spec.retryAfterSeconds, 'retryAfterSeconds') ?? 1,
		...(spec.reportUsage ? { reportUsage: spec.reportUsage } : {}),
		errorCode: spec.errorCode,
		cachedReadTokens: nonNegative(spec.cachedReadTokens, 'cachedReadTokens'),
		cacheWriteTokens: nonNegative(spec.cacheWriteTokens, 'cacheWriteTokens'),
		reasoningTokens: nonNegative(spec.reasoningTokens, 'reasoningTokens')
	};
}

function nonNegative(value: number | undefined, name: string): number | undefined {
	if (value === undefined) return undefined;
	if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
		throw new Error(`${name} must be a non-negative number`);
	}
	return value;
}

export interface KeyEntry {
	behaviour: ResolvedBehaviour;
	/** USD spent through this key (OpenRouter's /key reports it). Survives re-registration. */
	spentUsd: number;
}

/** Registered keys per provider. The same key string may be registered for several providers. */
export class KeyRegistry {
	private readonly byProvider = new Map<ProviderName, Map<string, KeyEntry>>();

	register(provider: ProviderName, key: string, input?: Behaviour | BehaviourSpec): void {
		if (typeof key !== 'string' || key.length === 0) throw new Error('key must be a non-empty string');
		const behaviour = resolveBehaviour(input);
		const keys = this.keysOf(provider);
		const existing = keys.get(key);
		keys.set(key, { behaviour, spentUsd: existing?.spentUsd ?? 0 });
	}

	lookup(provider: ProviderName, key: string | undefined): KeyEntry | undefined {
		return key === undefined ? undefined : this.byProvider.get(provider)?.get(key);
	}

	clear(): void {
		this.byProvider.clear();
	}

	private keysOf(provider: ProviderName): Map<string, KeyEntry> {
		let keys = this.byProvider.get(provider);
		if (!keys) {
			keys = new Map();
			this.byProvider.set(provider, keys);
		}
		return keys;
	}
}

/** What the log may keep of a key: its last 4 characters, and nothing for short keys. */
export function keyTail(key: string | undefined): string {
	return key !== undefined && key.length >= 8 ? key.slice(-4) : '';
}

/** A masked key as real providers echo it in error messages: never the whole key. */
export function maskKey(key: string): string {
	if (key.length >= 16) return `${key.slice(0, 3)}***...${key.slice(-4)}`;
	if (key.length >= 8) return `***...${key.slice(-4)}`;
	return '***';
}
