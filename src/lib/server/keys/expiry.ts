import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { notify } from '$lib/server/notifications';
import { parseInput } from '$lib/server/validation';
import { PROVIDER_NAMES } from '$lib/providers';
import {
	keyExpiredSql,
	keyNotFound,
	METADATA_COLUMNS,
	secondsFromNow,
	toMetadata,
	type KeyActor,
	type KeyManagerDeps,
	type KeyMetadata
} from './metadata';
import { setExpiryInput, type ExpiryChoice } from './schemas';

/** When a key stops serving: a span from now (the database's now), a moment, or never (null). */
export type Expiry = { inSeconds: number } | { at: Date } | null;

const HOUR = 3600;
const EXPIRES_IN_SECONDS: Record<ExpiryChoice, number | null> = {
	'12h': 12 * HOUR,
	'1d': 24 * HOUR,
	'7d': 7 * 24 * HOUR,
	never: null
};

/** The expiry an input asks for; undefined when it names none. */
export function expiryOf(input: { expiresIn?: ExpiryChoice; expiresAt?: Date | null }): Expiry | undefined {
	if (input.expiresAt !== undefined) return input.expiresAt && { at: input.expiresAt };
	if (input.expiresIn === undefined) return undefined;
	const seconds = EXPIRES_IN_SECONDS[input.expiresIn];
	return seconds === null ? null : { inSeconds: seconds };
}

/**
 * The columns that store `expiry`. The owner is warned once when the smaller of 3 days and a
 * quarter of the key's lifetime remains: a 30-day key 3 days ahead, a 12-hour key 3 hours ahead.
 */
export function expiryValues(expiry: Expiry): {
	expires_at: RawBuilder<Date> | null;
	expiry_warn_at: RawBuilder<Date> | null;
} {
	if (expiry === null) return { expires_at: null, expiry_warn_at: null };
	const expiresAt = 'at' in expiry ? sql<Date>`${expiry.at}::timestamptz` : secondsFromNow(expiry.inSeconds);
	return {
		expires_at: expiresAt,
		expiry_warn_at: sql<Date>`${expiresAt} - least(interval '3 days', (${expiresAt} - now()) / 4)`
	};
}

/** `2026-12-07 18:00 UTC`: notifications are read later, anywhere. */
export const utcMinute = (date: Date) => `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** What the API keys page says once a key's expiry changed. */
export function expiryNotice(key: Pick<KeyMetadata, 'provider' | 'last4' | 'expiresAt'>): string {
	const name = PROVIDER_NAMES[key.provider];
	return key.expiresAt
		? `Your ${name} key (…${key.last4}) now expires on ${utcMinute(key.expiresAt)}.`
		: `Your ${name} key (…${key.last4}) no longer expires.`;
}

/** Sets, changes or clears the expiry of one of the caller's keys; bad input changes nothing. */
export async function setKeyExpiry(
	deps: Pick<KeyManagerDeps, 'db'>,
	actor: KeyActor,
	input: unknown
): Promise<KeyMetadata & { notice: string }> {
	const parsed = parseInput(setExpiryInput, input);
	const expiry = expiryOf(parsed) ?? null;
	const row = await deps.db.transaction().execute(async (trx) => {
		const updated = await trx
			.updateTable('provider_keys')
			.set({ ...expiryValues(expiry), updated_at: sql`now()` })
			.where('id', '=', parsed.id)
			.where('user_id', '=', actor.userId)
			.returning([...METADATA_COLUMNS, keyExpiredSql.as('expired')])
			.executeTakeFirst();
		if (!updated) return undefined;
		await recordAudit(trx, {
			action: 'key.set_expiry',
			actorUserId: actor.userId,
			subjectUserId: actor.userId,
			provider: updated.provider,
			keyId: updated.id,
			ip: actor.ip,
			details: { expiresAt: updated.expires_at?.toISOString() ?? null }
		});
		return updated;
	});
	if (!row) throw keyNotFound();
	const key = toMetadata(row);
	return { ...key, notice: expiryNotice(key) };
}

/**
 * Sends the due expiry warnings: one per key and expiry, since claiming a key clears its
 * `expiry_warn_at` (instances never warn twice) and the window key names the expiry. A key that
 * expired or was switched off before its warning went out is claimed without one.
 */
export async function warnExpiringKeys(db: Kysely<Database>): Promise<number> {
	return db.transaction().execute(async (trx) => {
		const due = await trx
			.updateTable('provider_keys')
			.set({ expiry_warn_at: null })
			.where('expiry_warn_at', '<=', sql<Date>`now()`)
			.returning(['id', 'user_id', 'provider', 'last4', 'expires_at', 'is_active', keyExpiredSql.as('expired')])
			.execute();
		const warned = due.flatMap((key) =>
			key.expires_at && key.is_active && !key.expired ? [{ ...key, expires_at: key.expires_at }] : []
		);
		await notify(
			trx,
			warned.map((key) => ({
				userId: key.user_id,
				kind: 'key_expiring' as const,
				provider: key.provider,
				keySource: 'user' as const,
				windowKey: `expiry:${key.id}:${key.expires_at.toISOString()}`,
				message: `Your ${PROVIDER_NAMES[key.provider]} key (…${key.last4}) expires on ${utcMinute(key.expires_at)}; after that it is not used. Replace it or change its expiry on the API keys page.`
			}))
		);
		return warned.length;
	});
}
