import { sql, type Kysely } from 'kysely';
import type { Config, Provider } from '$lib/server/config';
import type { Database, KeyStatus } from '$lib/server/db';
import type { Logger } from '$lib/server/log';
import { isVaultError, withUnsealedKey, type Keyring } from '$lib/server/vault';
import type { KeyCheck } from '$lib/server/providers';
import { checkProviderKey } from './provider';
import { RECHECK_AFTER_SECONDS, secondsFromNow, type KeyHooks } from './metadata';
import { recordCheck } from './validate';
import { warnExpiringKeys } from './expiry';

export interface RevalidationDeps {
	db: Kysely<Database>;
	config: Pick<Config, 'baseUrls'>;
	keyring: Keyring;
	log?: Pick<Logger, 'warn' | 'info'>;
	keyHooks?: KeyHooks;
}

export interface RevalidationSummary {
	claimed: number;
	valid: number;
	invalid: number;
	unverified: number;
	/** Could not be unsealed (master key missing, damaged row): left for the owner to replace. */
	unreadable: number;
}

/** The claim is a `next_validation_at` push (no lock held over HTTP): a dead runner's keys come due again. */
export const CLAIM_LEASE_SECONDS = 15 * 60;

interface ClaimedKey {
	id: string;
	user_id: string;
	provider: Provider;
	master_key_id: string;
	nonce: Uint8Array;
	ciphertext: Uint8Array;
}

/** Claims up to `batchSize` due keys (SKIP LOCKED: instances never check one twice) and checks them. */
export async function revalidateDueKeys(
	deps: RevalidationDeps,
	options: { batchSize?: number; concurrency?: number; signal?: AbortSignal } = {}
): Promise<RevalidationSummary> {
	const batchSize = Math.max(1, Math.trunc(options.batchSize ?? 50));
	const claimed = await claimDueKeys(deps.db, batchSize);
	const summary: RevalidationSummary = { claimed: claimed.length, valid: 0, invalid: 0, unverified: 0, unreadable: 0 };
	const queue = [...claimed];
	const worker = async () => {
		for (let key = queue.shift(); key; key = queue.shift()) {
			if (options.signal?.aborted) return;
			const outcome = await checkOne(deps, key, options.signal);
			summary[outcome] += 1;
		}
	};
	await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
	return summary;
}

/** A provider's stored keys, and how many of them the scheduler would claim now anyway. */
export interface ProviderKeysDue {
	keys: number;
	users: number;
	alreadyDue: number;
}

/** Counts what `markProviderKeysDue` would do, changing nothing. */
export async function countProviderKeysDue(db: Kysely<Database>, provider: Provider): Promise<ProviderKeysDue> {
	const row = await db
		.selectFrom('provider_keys')
		.select((eb) => [
			eb.fn.countAll<number>().as('keys'),
			sql<number>`count(distinct user_id)`.as('users'),
			sql<number>`count(*) filter (where next_validation_at <= now())`.as('already_due')
		])
		.where('provider', '=', provider)
		.executeTakeFirstOrThrow();
	return { keys: Number(row.keys), users: Number(row.users), alreadyDue: Number(row.already_due) };
}

/**
 * Makes every stored key of `provider` due now, so the scheduler's next runs (every instance,
 * in claimed batches) re-check them; no provider call happens in the caller's request. A key
 * already due keeps its place in the queue. Pass a transaction to audit the change with it.
 */
export async function markProviderKeysDue(db: Kysely<Database>, provider: Provider): Promise<ProviderKeysDue> {
	const counts = await countProviderKeysDue(db, provider);
	await db
		.updateTable('provider_keys')
		.set({ next_validation_at: sql`now()` })
		.where('provider', '=', provider)
		.where('next_validation_at', '>', sql<Date>`now()`)
		.execute();
	return counts;
}

async function claimDueKeys(db: Kysely<Database>, batchSize: number): Promise<ClaimedKey[]> {
	const result = await sql<ClaimedKey>`
		update provider_keys as p
		set next_validation_at = ${secondsFromNow(CLAIM_LEASE_SECONDS)}
		from (
			select id from provider_keys
			where next_validation_at <= now()
				-- An expired key is never used, so it is not sent to the provider either.
				and (expires_at is null or expires_at > now())
			order by next_validation_at
			limit ${batchSize}
			for update skip locked
		) as due
		where p.id = due.id
		returning p.id, p.user_id, p.provider, p.master_key_id, p.nonce, p.ciphertext`.execute(db);
	return result.rows;
}

async function checkOne(
	deps: RevalidationDeps,
	key: ClaimedKey,
	signal: AbortSignal | undefined
): Promise<KeyStatus | 'unreadable'> {
	let check: KeyCheck;
	try {
		check = await withUnsealedKey(
			deps.keyring,
			{ userId: key.user_id, provider: key.provider },
			{ masterKeyId: key.master_key_id, nonce: key.nonce, ciphertext: key.ciphertext },
			(apiKey) => checkProviderKey(deps.config, key.provider, apiKey, signal)
		);
	} catch (error) {
		if (!isVaultError(error)) throw error;
		deps.log?.warn(
			{ keyId: key.id, provider: key.provider, failure: error.failure },
			'a stored key could not be unsealed for its scheduled check'
		);
		await deps.db
			.updateTable('provider_keys')
			.set({
				last_error_code: error.reason ?? 'vault_error',
				next_validation_at: secondsFromNow(RECHECK_AFTER_SECONDS.invalid)
			})
			.where('id', '=', key.id)
			.execute();
		return 'unreadable';
	}
	// Shutting down mid-check: the lease brings the key back soon; do not record a non-answer.
	if (check.errorCode === 'aborted') return 'unverified';
	deps.keyHooks?.checked?.({ provider: key.provider, result: check.status, trigger: 'scheduled' });
	await recordCheck(deps.db, key.id, check, { actorUserId: null, ip: null, trigger: 'scheduled' });
	return check.status;
}

export interface BackgroundJobs {
	/** Stops scheduling and waits for the run in progress (aborting its provider calls). */
	stop(): Promise<void>;
}

export interface BackgroundJobOptions {
	/** Default 5 minutes. */
	intervalMs?: number;
	/** Default 1 minute after start, so start-up is not slowed. */
	firstRunDelayMs?: number;
	batchSize?: number;
	/** Batches per run at most, so one instance does not hog a large backlog. */
	maxBatchesPerRun?: number;
}

/** The in-process revalidation scheduler (and expiry warnings); unref'd timers, no overlapping runs, work shared via the claim. */
export function startBackgroundJobs(
	services: RevalidationDeps & { log: Pick<Logger, 'warn' | 'info' | 'error'> },
	options: BackgroundJobOptions = {}
): BackgroundJobs {
	const intervalMs = options.intervalMs ?? 5 * 60_000;
	const batchSize = options.batchSize ?? 50;
	const maxBatches = options.maxBatchesPerRun ?? 20;
	const controller = new AbortController();
	let running: Promise<void> | undefined;

	const runOnce = async () => {
		const warned = await warnExpiringKeys(services.db);
		if (warned > 0) services.log.info({ warned }, 'warned the owners of keys that expire soon');
		for (let batch = 0; batch < maxBatches && !controller.signal.aborted; batch++) {
			const summary = await revalidateDueKeys(services, { batchSize, signal: controller.signal });
			if (summary.claimed > 0) services.log.info({ ...summary }, 'revalidated stored provider keys');
			if (summary.claimed < batchSize) break;
		}
	};
	const tick = () => {
		if (running || controller.signal.aborted) return;
		running = runOnce()
			.catch((error: unknown) => {
				services.log.error({ err: error }, 'key revalidation run failed; retrying at the next interval');
			})
			.finally(() => {
				running = undefined;
			});
	};

	const first = setTimeout(tick, options.firstRunDelayMs ?? 60_000);
	const interval = setInterval(tick, intervalMs);
	first.unref();
	interval.unref();
	return {
		async stop() {
			clearTimeout(first);
			clearInterval(interval);
			controller.abort();
			await running;
		}
	};
}
