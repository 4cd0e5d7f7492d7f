import type { KeySource } from '$lib/server/db';
import { isDatabaseUnavailable } from '$lib/server/db';
import {
	admissionOf,
	admit,
	type ActualUsage,
	LimitRefusal,
	release,
	releaseRequest,
	settle,
	type Admission,
	type AdmitRow
} from '$lib/server/limits';
import { notify, type NewNotification } from '$lib/server/notifications';
import type { ProviderId } from '$lib/server/providers';
import type { UsageRecord } from '$lib/server/usage';
import { admissionRequestOf, type ChatEstimate } from './estimate';
import { settleWithRecord } from './settlement';
import type { ChatDeps, FinalUsage } from './types';

/** What a request holds from the registry of requests in flight (graceful shutdown waits for it). */
export interface Lifetime {
	/** Aborts when the server stops the request. */
	signal: AbortSignal;
	end(): void;
}

/** How the request ended, as its usage record says. */
export interface Outcome {
	keySource: KeySource;
	servedBy: ProviderId;
	success: boolean;
	errorCode: string | null;
	fallbackReason: string | null;
	usage?: FinalUsage;
	ttftMs?: number | null;
	/** The user's key that was called (own-key attempts). */
	keyId?: string | null;
}

type Attempt = Pick<Outcome, 'keySource' | 'servedBy'>;

const NO_USAGE: FinalUsage = { promptTokens: 0, completionTokens: 0, costMicros: 0, estimated: false };

/**
 * One request's accounting: exactly one usage record, every reservation settled or released. Every
 * method is idempotent; `close()`, in the request's one `finally`, gives back whatever is still held
 * (or whose admission answer was lost), writes the record when one is owed, sends the notifications
 * the limits made due, and only then ends the request's lifetime.
 */
export class Ledger {
	/** Known once the first statement named the owner (an API token's owner is not known before). */
	userId: string | undefined;
	/** The access token of an API request (null: the web chat), known with the owner. */
	tokenId: string | null = null;
	private readonly open = new Map<string, Admission>();
	private readonly lost = new Set<string>();
	/** Writes under way (settle, release, notifications, the key's last use): close waits for them. */
	private readonly pending: Promise<unknown>[] = [];
	private outcome: Outcome | undefined;
	private lastAttempt: Attempt | undefined;
	private closing: Promise<void> | undefined;
	/** The record written with the settlement (see `settle`): close() only reports it. */
	private recorded: UsageRecord | undefined;
	private readonly started = Date.now();

	constructor(
		private readonly deps: ChatDeps,
		private readonly request: { requestId: string; api: 'web' | 'openai'; estimate: ChatEstimate; lifetime: Lifetime }
	) {}

	/** Admits attempt `index`, or takes the row the first statement admitted it with. Throws refusals. */
	async admit(index: number, attempt: Attempt, admitted: AdmitRow | null): Promise<Admission> {
		const { db, config } = this.deps;
		const { estimate, requestId } = this.request;
		const request = {
			...admissionRequestOf(estimate, requestId, attempt.keySource, index),
			userId: this.requireUser(),
			tokenId: this.tokenId
		};
		this.lastAttempt = attempt;
		try {
			const admission = admitted
				? await admissionOf(db, request, admitted)
				: await admit(db, config.limitDefaults, request);
			this.open.set(admission.requestId, admission);
			this.deps.hooks?.reservationOpened?.();
			this.notify(admission.crossed);
			return admission;
		} catch (error) {
			if (error instanceof LimitRefusal) this.notify(error.crossed);
			if (isDatabaseUnavailable(error)) this.lost.add(request.requestId);
			throw error;
		}
	}

	/** The first statement may have admitted attempt 0, but its answer was lost with the connection. */
	admissionLost(attempt: Attempt): void {
		this.lastAttempt = attempt;
		this.lost.add(admissionRequestOf(this.request.estimate, this.request.requestId, attempt.keySource, 0).requestId);
	}

	/** Gives the reservation back now (nothing was served on it), retried through an outage. */
	async release(admission: Admission): Promise<void> {
		if (!this.open.delete(admission.requestId)) return;
		await this.durably(`release ${admission.requestId}`, () => release(this.deps.db, admission));
		this.deps.hooks?.reservationClosed?.();
	}

	/** Settles the reservation on what was served, retried through an outage; released if the database refuses it. */
	settle(admission: Admission, usage: FinalUsage): Promise<void> {
		if (!this.open.delete(admission.requestId)) return Promise.resolve();
		const actual = { costMicros: usage.costMicros, totalTokens: usage.promptTokens + usage.completionTokens };
		// Tracked whole, fallback included, so close() cannot pass between its steps.
		const done = this.settleWithRecord(admission, actual).then((settled) =>
			settled ? undefined : this.settleApart(admission, actual)
		);
		this.track(done);
		return done;
	}

	/**
	 * The request ends on this admission (its outcome is known, nothing else is held): the record
	 * goes in the settlement's statement. Any failure leaves both to the separate, durable writes.
	 */
	private settleWithRecord(admission: Admission, actual: ActualUsage): Promise<boolean> {
		if (!this.outcome || !this.userId || this.open.size > 0 || this.lost.size > 0) return Promise.resolve(false);
		const record = this.recordOf(this.userId, this.outcome);
		return settleWithRecord(this.deps.db, admission, actual, record).then(
			({ crossed }) => {
				this.notify(crossed);
				this.recorded = record;
				this.deps.hooks?.reservationClosed?.();
				return true;
			},
			(error: unknown) => {
				this.deps.log.warn(
					{ err: error, requestId: record.requestId },
					'settling with the record failed; writing apart'
				);
				return false;
			}
		);
	}

	private async settleApart(admission: Admission, actual: ActualUsage): Promise<void> {
		const settled = await this.durably(`settle ${admission.requestId}`, async () => {
			const { crossed } = await settle(this.deps.db, admission, actual);
			this.notify(crossed);
		});
		if (!settled) await this.durably(`release ${admission.requestId}`, () => release(this.deps.db, admission));
		this.deps.hooks?.reservationClosed?.();
	}

	/** The request's one usage record; the first call wins. Written by `close()`. */
	finish(outcome: Outcome): void {
		this.outcome ??= outcome;
	}

	/** Keeps the request open until `work` is done (it must not throw). */
	track(work: Promise<unknown>): void {
		this.pending.push(work);
	}

	close(): Promise<void> {
		return (this.closing ??= this.closeOnce());
	}

	private async closeOnce(): Promise<void> {
		try {
			for (const admission of [...this.open.values()]) this.track(this.release(admission));
			await this.settlePending();
			// Owed once the request reached the limits; a request refused before that has no record.
			const outcome =
				this.outcome ??
				(this.lastAttempt
					? { ...this.lastAttempt, success: false, errorCode: 'internal', fallbackReason: null }
					: undefined);
			if (this.lost.size > 0) await this.giveBackLost(outcome);
			else if (outcome) await this.writeRecord(this.requireUser(), outcome);
			await this.settlePending();
		} finally {
			this.request.lifetime.end();
		}
	}

	private async settlePending(): Promise<void> {
		while (this.pending.length > 0) await Promise.all(this.pending.splice(0));
	}

	/** Releases what lost admissions reserved; the record goes to their owner when the caller did not know them. */
	private async giveBackLost(outcome: Outcome | undefined): Promise<void> {
		const ids = [...this.lost];
		await this.durably(`release ${ids.join(' ')} (admission answer lost)`, async () => {
			let userId = this.userId;
			for (const id of ids) {
				const owner = await releaseRequest(this.deps.db, id);
				userId ??= owner?.userId;
			}
			if (userId && outcome) await this.writeRecord(userId, outcome);
		});
	}

	private recordOf(userId: string, outcome: Outcome): UsageRecord {
		const { requestId, api, estimate } = this.request;
		const usage = outcome.usage ?? NO_USAGE;
		return {
			requestId,
			userId,
			tokenId: this.tokenId,
			keyId: outcome.keyId ?? null,
			provider: estimate.model.provider,
			model: estimate.model.id,
			keySource: outcome.keySource,
			servedBy: outcome.servedBy,
			api,
			success: outcome.success,
			errorCode: outcome.errorCode,
			fallbackReason: outcome.fallbackReason,
			promptTokens: usage.promptTokens,
			completionTokens: usage.completionTokens,
			costMicros: usage.costMicros,
			estimated: usage.estimated,
			cachedReadTokens: usage.cachedReadTokens ?? 0,
			cacheWriteTokens: usage.cacheWriteTokens ?? 0,
			reasoningTokens: usage.reasoningTokens ?? 0,
			costKnown: usage.costKnown ?? true,
			latencyMs: Date.now() - this.started,
			ttftMs: outcome.ttftMs ?? null
		};
	}

	private async writeRecord(userId: string, outcome: Outcome): Promise<void> {
		// Written with the settlement already when the request ended on its admission.
		const record = this.recorded ?? this.recordOf(userId, outcome);
		if (!this.recorded) {
			try {
				await this.deps.usageWriter.write(record);
			} catch (error) {
				this.deps.log.error({ err: error, requestId: record.requestId }, 'writing a usage record failed');
			}
		}
		// The request logger already carries the request id.
		const { provider, model, keySource, servedBy, success, errorCode, fallbackReason } = record;
		const { promptTokens, completionTokens, costMicros, latencyMs, ttftMs } = record;
		const fields = { provider, model, keySource, servedBy, success, errorCode, fallbackReason };
		this.deps.log.info({ ...fields, promptTokens, completionTokens, costMicros, latencyMs, ttftMs }, 'chat finished');
		this.deps.hooks?.completed?.(record);
	}

	/** Runs an idempotent write now or, in an outage, once the database is back; false if it was refused. */
	private durably(description: string, run: () => Promise<unknown>): Promise<boolean> {
		const { requestId } = this.request;
		const write = this.deps.usageWriter.writeDurably({ description, requestId, run }).then(
			() => true,
			(error: unknown) => {
				this.deps.log.error({ err: error, requestId }, `${description} failed`);
				return false;
			}
		);
		this.track(write);
		return write;
	}

	private notify(crossed: readonly NewNotification[]): void {
		if (crossed.length === 0) return;
		this.track(
			notify(this.deps.db, [...crossed]).catch((error: unknown) =>
				this.deps.log.warn({ err: error }, 'sending limit notifications failed')
			)
		);
	}

	private requireUser(): string {
		if (!this.userId) throw new Error('the ledger has no user yet');
		return this.userId;
	}
}
