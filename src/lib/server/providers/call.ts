import { classifyWith, type FailureRules, type ProviderError } from './errors';
import type { ChatCall, ProviderEvent } from './types';

/**
 * What every adapter shares around its SDK call: one AbortSignal that fires on the caller's abort
 * or on an idle timeout, error classification, `afterFirstToken`, and the event order contract.
 */

export interface CallControl {
	/** Pass this (never the caller's signal directly) to the SDK. */
	readonly signal: AbortSignal;
	/** Call on every upstream chunk, including ones that carry no text: restarts the idle timer. */
	touch(): void;
}

class CallGuard implements CallControl {
	private readonly controller = new AbortController();
	private timer: ReturnType<typeof setTimeout> | undefined;
	/** While waiting for the provider: when the idle timeout fires. */
	private deadline: number | undefined;
	private timedOut = false;
	private textYielded = false;
	/** The provider's answer was read to its end: nothing is left to close. */
	drained = false;
	readonly signal = this.controller.signal;

	constructor(
		private readonly rules: FailureRules,
		private readonly call: ChatCall
	) {
		if (call.signal.aborted) this.controller.abort();
		else call.signal.addEventListener('abort', this.onCallerAbort, { once: true });
	}

	private readonly onCallerAbort = (): void => {
		this.controller.abort();
	};

	/**
	 * The idle timer runs only while we wait for the provider, not while the caller consumes an
	 * event. One timer re-armed lazily: touching on every chunk moves a deadline, not a timer.
	 */
	touch(): void {
		this.deadline = performance.now() + this.call.timeoutMs;
		this.timer ??= setTimeout(this.onTimer, this.call.timeoutMs);
	}

	pause(): void {
		this.deadline = undefined;
	}

	private readonly onTimer = (): void => {
		this.timer = undefined;
		// Paused: the next touch arms it again.
		if (this.deadline === undefined) return;
		const left = this.deadline - performance.now();
		if (left > 0) {
			this.timer = setTimeout(this.onTimer, left);
			return;
		}
		this.timedOut = true;
		this.controller.abort();
	};

	noteText(): void {
		this.textYielded = true;
	}

	/** The SDKs end an aborted OpenAI/Anthropic stream quietly; this turns that into the error it is. */
	get stopped(): boolean {
		return this.call.signal.aborted || this.timedOut;
	}

	fail(error: unknown): ProviderError {
		return classifyWith(this.rules, error, {
			afterFirstToken: this.textYielded,
			aborted: this.call.signal.aborted,
			timedOut: this.timedOut
		});
	}

	/**
	 * Also closes the upstream connection when the caller stopped reading early. An answer read to
	 * its end is not aborted: its connection is already back in the pool, and an abort costs an
	 * AbortError (a stack trace) and the SDK's clean-up on every request.
	 */
	dispose(): void {
		this.pause();
		if (this.timer !== undefined) clearTimeout(this.timer);
		this.call.signal.removeEventListener('abort', this.onCallerAbort);
		if (!this.drained) this.controller.abort();
	}
}

/**
 * Runs one adapter's event producer under a guard. Guarantees to the caller: only
 * `ProviderError`s are thrown; empty deltas are dropped; at most one usage event; a `finish`
 * is always the last event of a call that succeeded (added as 'other' if the provider sent none).
 */
export async function* guardedCall(
	rules: FailureRules,
	call: ChatCall,
	produce: (control: CallControl) => AsyncIterable<ProviderEvent>
): AsyncGenerator<ProviderEvent> {
	const guard = new CallGuard(rules, call);
	let usageSent = false;
	let finished = false;
	try {
		guard.touch();
		for await (const event of produce(guard)) {
			guard.pause();
			if (guard.stopped) throw new Error('stopped');
			if (finished) continue;
			if (event.type === 'delta') {
				if (event.text === '') {
					guard.touch();
					continue;
				}
				guard.noteText();
			}
			if (event.type === 'tool_call') guard.noteText();
			if (event.type === 'usage') {
				if (usageSent) continue;
				usageSent = true;
			}
			if (event.type === 'finish') finished = true;
			yield event;
			guard.touch();
		}
		guard.pause();
		if (guard.stopped) throw new Error('stopped');
		guard.drained = true;
		if (!finished) yield { type: 'finish', reason: 'other' };
	} catch (error) {
		throw guard.fail(error);
	} finally {
		guard.dispose();
	}
}

/** USD as the provider reports it (a float) to integer micro-dollars, rounded up. */
export function usdToMicrosRoundedUp(usd: number): number {
	// Round to whole pico-dollars first so float noise (0.0001 * 1e6 = 100.00000000000001) does not
	// add a micro-dollar; then round the remainder up so we never under-bill.
	const picoDollars = Math.round(usd * 1e12);
	return Math.ceil(picoDollars / 1e6);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function tokenCount(value: unknown): number | undefined {
	return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}
