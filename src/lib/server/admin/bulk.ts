import { sql, type Kysely } from 'kysely';
import { providerName } from '$lib/providers';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { blockKeyFingerprints, countProviderKeysDue, markProviderKeysDue } from '$lib/server/keys';
import type { AdminActor } from '$lib/server/limits';
import { parseInput } from '$lib/server/validation';
import { adminBulkKeysInput } from './schemas';

// Incident response across every user: one provider's keys switched off, or re-checked. A dry run
// only counts; a real run changes the keys and writes one audit entry, in one transaction.

/** `blockKeyFingerprints` takes ids in a list; chunks keep each statement's parameters bounded. */
const BLOCK_CHUNK = 1_000;

export interface BulkDeactivation {
	provider: Provider;
	dryRun: boolean;
	/** Keys switched off (or that would be): every key of the provider not already switched off by an admin. */
	keys: number;
	/** Their owners. */
	users: number;
	/** Of those keys, how many were on, i.e. routing was using them. */
	activeKeys: number;
	notice: string;
}

export interface BulkRevalidation {
	provider: Provider;
	dryRun: boolean;
	/** Keys the revalidation job re-checks (or would): every stored key of the provider. */
	keys: number;
	users: number;
	/** Of those keys, how many were due already (nothing to change for them). */
	alreadyDue: number;
	notice: string;
}

const plural = (count: number, one: string, many = `${one}s`) =>
	`${count.toLocaleString('en-US')} ${count === 1 ? one : many}`;

interface DeactivationCounts {
	keys: number;
	users: number;
	activeKeys: number;
}

async function countDeactivatable(db: Kysely<Database>, provider: Provider): Promise<DeactivationCounts> {
	const row = await db
		.selectFrom('provider_keys')
		.select((eb) => [
			eb.fn.countAll<number>().as('keys'),
			sql<number>`count(distinct user_id)`.as('users'),
			sql<number>`count(*) filter (where is_active)`.as('active_keys')
		])
		.where('provider', '=', provider)
		.where('disabled_by_admin_at', 'is', null)
		.executeTakeFirstOrThrow();
	return { keys: Number(row.keys), users: Number(row.users), activeKeys: Number(row.active_keys) };
}

/** The same switch-off as `deactivateUserKeys` (off, locked, fingerprints blocked) for every user at once. */
async function switchOffProviderKeys(
	trx: Kysely<Database>,
	provider: Provider,
	actorUserId: string
): Promise<DeactivationCounts> {
	const switched = await trx
		.updateTable('provider_keys as p')
		.set({ is_active: false, disabled_by_admin_at: sql`now()`, updated_at: sql`now()` })
		// The old `is_active` of each row, read from the statement's snapshot.
		.from('provider_keys as before')
		.whereRef('before.id', '=', 'p.id')
		.where('p.provider', '=', provider)
		.where('p.disabled_by_admin_at', 'is', null)
		.returning(['p.id', 'p.user_id', 'before.is_active as was_active'])
		.execute();
	const ids = switched.map((row) => row.id);
	for (let start = 0; start < ids.length; start += BLOCK_CHUNK) {
		await blockKeyFingerprints(trx, ids.slice(start, start + BLOCK_CHUNK), actorUserId);
	}
	return {
		keys: switched.length,
		users: new Set(switched.map((row) => row.user_id)).size,
		activeKeys: switched.filter((row) => row.was_active).length
	};
}

function deactivationNotice(provider: Provider, dryRun: boolean, counts: DeactivationCounts): string {
	const name = providerName(provider);
	if (counts.keys === 0) return `No ${name} key is left to switch off; nothing ${dryRun ? 'would change' : 'changed'}.`;
	const what = `${plural(counts.keys, `${name} key`)} of ${plural(counts.users, 'user')} (${counts.activeKeys.toLocaleString('en-US')} on)`;
	return dryRun ? `Would switch off ${what}.` : `Switched off ${what}.`;
}

/** Switches off one provider's keys of every user, or (`dryRun`) only counts them. Audited once. */
export async function bulkDeactivateKeys(
	db: Kysely<Database>,
	input: unknown,
	actor: AdminActor
): Promise<BulkDeactivation> {
	const { provider, dryRun } = parseInput(adminBulkKeysInput, input);
	const counts = dryRun
		? await countDeactivatable(db, provider)
		: await db.transaction().execute(async (trx) => {
				const done = await switchOffProviderKeys(trx, provider, actor.actorUserId);
				await recordAudit(trx, {
					action: 'admin.bulk_deactivate_keys',
					actorUserId: actor.actorUserId,
					provider,
					ip: actor.ip ?? null,
					details: { keys: done.keys, users: done.users, activeKeys: done.activeKeys }
				});
				return done;
			});
	return { provider, dryRun, ...counts, notice: deactivationNotice(provider, dryRun, counts) };
}

function revalidationNotice(provider: Provider, dryRun: boolean, keys: number, users: number): string {
	const name = providerName(provider);
	if (keys === 0) return `There is no stored ${name} key; nothing ${dryRun ? 'would change' : 'changed'}.`;
	const what = `${plural(keys, `${name} key`)} of ${plural(users, 'user')}`;
	return dryRun
		? `Would re-check ${what}.`
		: `Marked ${what} for re-checking; the revalidation job checks them in batches over the next minutes.`;
}

/** Makes one provider's keys of every user due for the revalidation job, or (`dryRun`) only counts them. Audited once. */
export async function bulkRevalidateKeys(
	db: Kysely<Database>,
	input: unknown,
	actor: AdminActor
): Promise<BulkRevalidation> {
	const { provider, dryRun } = parseInput(adminBulkKeysInput, input);
	const counts = dryRun
		? await countProviderKeysDue(db, provider)
		: await db.transaction().execute(async (trx) => {
				const done = await markProviderKeysDue(trx, provider);
				await recordAudit(trx, {
					action: 'admin.bulk_revalidate_keys',
					actorUserId: actor.actorUserId,
					provider,
					ip: actor.ip ?? null,
					details: { keys: done.keys, users: done.users, alreadyDue: done.alreadyDue }
				});
				return done;
			});
	return { provider, dryRun, ...counts, notice: revalidationNotice(provider, dryRun, counts.keys, counts.users) };
}
