import { sql, type Expression, type Kysely } from 'kysely';
import sodium from 'libsodium-wrappers';
import { PROVIDER_NAMES } from '$lib/providers';
import type { Config, Provider } from '$lib/server/config';
import { isUniqueViolation, lastUseIsStale, type Database, type KeyStatus } from '$lib/server/db';
import { AppError, notFound } from '$lib/server/errors';
import { recordAudit } from '$lib/server/audit';
import { notify } from '$lib/server/notifications';
import { parseInput } from '$lib/server/validation';
import {
	keyBytes,
	keyFingerprint,
	sameFingerprint,
	sealKey,
	withUnsealedKey,
	type Keyring,
	type SealedKey,
	type SealSubject
} from '$lib/server/vault';
import type { KeyCheck } from '$lib/server/providers';
import { checkProviderKey, normalizeProviderKey } from './provider';
import { keyIdInput, setActiveInput, upsertKeyInput } from './schemas';

/** Observers of live key checks (metrics); optional, and they must not throw. */
export interface KeyHooks {
	checked?(info: { provider: Provider; result: KeyStatus; trigger: 'add' | 'user' | 'scheduled' }): void;
}

/** What the key manager needs; `Services` has all of it. */
export interface KeyManagerDeps {
	db: Kysely<Database>;
	config: Pick<Config, 'baseUrls'>;
	keyring: Keyring;
	keyHooks?: KeyHooks;
}

/** Who is acting, from the request: every query is scoped to `userId`. */
export interface KeyActor {
	userId: string;
	ip: string | null;
}

/** Everything a client may see about a stored key: never the key, its ciphertext or fingerprint. */
export interface KeyMetadata {
	id: string;
	provider: Provider;
	label: string | null;
	last4: string;
	status: KeyStatus;
	isActive: boolean;
	createdAt: Date;
	lastUsedAt: Date | null;
	lastValidatedAt: Date | null;
	lastErrorCode: string | null;
	/** An admin switched this key off; only replacing it brings the provider back. */
	disabledByAdmin: boolean;
}

export interface UpsertedKey {
	key: KeyMetadata;
	/** True when it replaced the provider's previous key. */
	replaced: boolean;
	/** A sentence for the user: accepted, or saved but not checkable right now. */
	notice: string;
}

export interface ValidatedKey {
	key: KeyMetadata;
	/** What the provider said this time; `key.status` is the stored result. */
	result: KeyStatus;
	notice: string;
}

const HOUR = 3600;
/** Definitive answers are rechecked daily; keys nobody could check yet, hourly. */
export const RECHECK_AFTER_SECONDS: Record<KeyStatus, number> = {
	valid: 24 * HOUR,
	invalid: 24 * HOUR,
	unverified: HOUR
};

/** The only columns read for metadata: ciphertext, nonce and fingerprint stay in the database. */
export const METADATA_COLUMNS = [
	'id',
	'provider',
	'label',
	'last4',
	'status',
	'is_active',
	'created_at',
	'last_used_at',
	'last_validated_at',
	'last_error_code',
	'disabled_by_admin_at'
] as const;

export interface MetadataRow {
	id: string;
	provider: Provider;
	label: string | null;
	last4: string;
	status: KeyStatus;
	is_active: boolean;
	created_at: Date;
	last_used_at: Date | null;
	last_validated_at: Date | null;
	last_error_code: string | null;
	disabled_by_admin_at: Date | null;
}

export function toMetadata(row: MetadataRow): KeyMetadata {
	return {
		id: row.id,
		provider: row.provider,
		label: row.label,
		last4: row.last4,
		status: row.status,
		isActive: row.is_active,
		createdAt: row.created_at,
		lastUsedAt: row.last_used_at,
		lastValidatedAt: row.last_validated_at,
		lastErrorCode: row.last_error_code,
		disabledByAdmin: row.disabled_by_admin_at !== null
	};
}

export const secondsFromNow = (seconds: number) => sql<Date>`now() + make_interval(secs => ${seconds})`;

const keyNotFound = () => notFound('No such key. It may have been removed; reload the list.');

/** The caller's keys, metadata only, in a stable order. */
export async function listKeys(db: Kysely<Database>, userId: string): Promise<KeyMetadata[]> {
	const rows = await db
		.selectFrom('provider_keys')
		.select(METADATA_COLUMNS)
		.where('user_id', '=', userId)
		.orderBy('provider')
		.execute();
	return rows.map(toMetadata);
}

/** The user's active keys (at most one per provider), metadata only. For routing. */
export async function activeKeysOf(db: Kysely<Database>, userId: string): Promise<KeyMetadata[]> {
	const rows = await db
		.selectFrom('provider_keys')
		.select(METADATA_COLUMNS)
		.where('user_id', '=', userId)
		.where('is_active', '=', true)
		.orderBy('provider')
		.execute();
	return rows.map(toMetadata);
}

/** The user's active key for one provider (metadata incl. status), or undefined. */
export async function getActiveKey(
	db: Kysely<Database>,
	userId: string,
	provider: Provider
): Promise<KeyMetadata | undefined> {
	const row = await db
		.selectFrom('provider_keys')
		.select(METADATA_COLUMNS)
		.where('user_id', '=', userId)
		.where('provider', '=', provider)
		.where('is_active', '=', true)
		.executeTakeFirst();
	return row ? toMetadata(row) : undefined;
}

/**
 * Checks the key's shape, refuses the very key already stored (409), validates it live, then
 * stores it sealed. A key the provider rejects (401/403) is a 400 and nothing is stored; one the
 * provider could not judge (down, timeout) is stored as `unverified` and rechecked within the hour.
 * A provider's previous key is replaced in the same transaction, so there is always one row.
 */
export async function upsertKey(deps: KeyManagerDeps, actor: KeyActor, input: unknown): Promise<UpsertedKey> {
	const parsed = parseInput(upsertKeyInput, input);
	const { provider } = parsed;
	const apiKey = normalizeProviderKey(provider, parsed.apiKey);
	const name = PROVIDER_NAMES[provider];
	const subject: SealSubject = { userId: actor.userId, provider };
	const bytes = keyBytes(apiKey);
	try {
		await refuseDuplicate(deps, subject, bytes);
		const check = await checkProviderKey(deps.config, provider, apiKey);
		deps.keyHooks?.checked?.({ provider, result: check.status, trigger: 'add' });
		if (check.status === 'invalid') {
			throw new AppError(
				'bad_request',
				`${name} rejected this key (${check.httpStatus ?? 'refused'}${check.errorCode === 'api_key_invalid' ? ' API_KEY_INVALID' : ''}). Check that you copied the whole key and that it has not been revoked; nothing was saved.`,
				{ reason: 'key_rejected', details: { field: 'apiKey', provider, errorCode: check.errorCode ?? null } }
			);
		}
		const sealed = sealKey(deps.keyring, subject, bytes);
		const fingerprint = keyFingerprint(deps.keyring, sealed.masterKeyId, subject, bytes);
		const values = {
			user_id: actor.userId,
			provider,
			last4: apiKey.slice(-4),
			ciphertext: sealed.ciphertext,
			nonce: sealed.nonce,
			master_key_id: sealed.masterKeyId,
			fingerprint,
			status: check.status,
			last_error_code: check.errorCode ?? null,
			last_validated_at: check.status === 'valid' ? sql<Date>`now()` : null,
			next_validation_at: secondsFromNow(RECHECK_AFTER_SECONDS[check.status])
		};
		const stored = await withOneRetryOnRace(() =>
			deps.db.transaction().execute(async (trx) => {
				const previous = await trx
					.deleteFrom('provider_keys')
					.where('user_id', '=', actor.userId)
					.where('provider', '=', provider)
					.returning(['id', 'label', 'last4'])
					.executeTakeFirst();
				const row = await trx
					.insertInto('provider_keys')
					// No label given: a replacement keeps the old key's label; '' or null clears it.
					.values({ ...values, label: parsed.label === undefined ? (previous?.label ?? null) : parsed.label || null })
					.returning(METADATA_COLUMNS)
					.executeTakeFirstOrThrow();
				await recordAudit(trx, {
					action: previous ? 'key.replace' : 'key.add',
					actorUserId: actor.userId,
					subjectUserId: actor.userId,
					provider,
					keyId: row.id,
					ip: actor.ip,
					details: {
						status: check.status,
						errorCode: check.errorCode ?? null,
						last4: row.last4,
						replacedKeyId: previous?.id ?? null
					}
				});
				return { row, previous };
			})
		);
		const replacedNote = stored.previous ? ` It replaces your previous key (…${stored.previous.last4}).` : '';
		const notice =
			check.status === 'valid'
				? `Saved: ${name} accepted this key.${replacedNote}`
				: `Saved, but ${name} could not be reached to check it (${describeCheckFailure(check)}). It will be checked again within the hour.${replacedNote}`;
		return { key: toMetadata(stored.row), replaced: stored.previous !== undefined, notice };
	} finally {
		sodium.memzero(bytes);
	}
}

/** Same user, same provider, the very same key: a clear 409 instead of a pointless replace. */
async function refuseDuplicate(deps: KeyManagerDeps, subject: SealSubject, bytes: Uint8Array): Promise<void> {
	const existing = await deps.db
		.selectFrom('provider_keys')
		.select(['master_key_id', 'fingerprint', 'last4', 'is_active'])
		.where('user_id', '=', subject.userId)
		.where('provider', '=', subject.provider)
		.executeTakeFirst();
	// A row under a master key this server no longer holds cannot be compared; replacing it is right.
	if (!existing || !deps.keyring.has(existing.master_key_id)) return;
	const fingerprint = keyFingerprint(deps.keyring, existing.master_key_id, subject, bytes);
	if (!sameFingerprint(fingerprint, existing.fingerprint)) return;
	const name = PROVIDER_NAMES[subject.provider];
	throw new AppError(
		'conflict',
		`This ${name} key (…${existing.last4}) is already saved${existing.is_active ? '' : ' but switched off; turn it on instead'}. Use "Test" to check it again.`,
		{ reason: 'key_already_saved' }
	);
}

/** Two simultaneous first adds for one provider: the loser retries once and replaces the winner. */
async function withOneRetryOnRace<T>(run: () => Promise<T>): Promise<T> {
	try {
		return await run();
	} catch (error) {
		if (!isUniqueViolation(error, 'provider_keys_one_per_provider')) throw error;
		return run();
	}
}

export async function removeKey(
	deps: Pick<KeyManagerDeps, 'db'>,
	actor: KeyActor,
	input: unknown
): Promise<{ id: string; removed: true }> {
	const { id } = parseInput(keyIdInput, input);
	const removed = await deps.db.transaction().execute(async (trx) => {
		const row = await trx
			.deleteFrom('provider_keys')
			.where('id', '=', id)
			.where('user_id', '=', actor.userId)
			.returning(['id', 'provider', 'last4'])
			.executeTakeFirst();
		if (!row) return undefined;
		await recordAudit(trx, {
			action: 'key.remove',
			actorUserId: actor.userId,
			subjectUserId: actor.userId,
			provider: row.provider,
			keyId: row.id,
			ip: actor.ip,
			details: { last4: row.last4 }
		});
		return row;
	});
	if (!removed) throw keyNotFound();
	return { id: removed.id, removed: true };
}

export async function setKeyActive(
	deps: Pick<KeyManagerDeps, 'db'>,
	actor: KeyActor,
	input: unknown
): Promise<KeyMetadata> {
	const { id, active } = parseInput(setActiveInput, input);
	const row = await deps.db.transaction().execute(async (trx) => {
		const updated = await trx
			.updateTable('provider_keys')
			.set({ is_active: active, updated_at: sql`now()` })
			.where('id', '=', id)
			.where('user_id', '=', actor.userId)
			// A key an admin switched off cannot be switched back on by its owner.
			.where((eb) => (active ? eb('disabled_by_admin_at', 'is', null) : eb.lit(true)))
			.returning(METADATA_COLUMNS)
			.executeTakeFirst();
		if (!updated) {
			const locked = await trx
				.selectFrom('provider_keys')
				.select('id')
				.where('id', '=', id)
				.where('user_id', '=', actor.userId)
				.where('disabled_by_admin_at', 'is not', null)
				.executeTakeFirst();
			if (locked) {
				throw new AppError(
					'conflict',
					'An admin switched this key off. Add a new key for this provider to replace it, or contact your admin.',
					{ reason: 'key_disabled_by_admin' }
				);
			}
			return undefined;
		}
		await recordAudit(trx, {
			action: active ? 'key.activate' : 'key.deactivate',
			actorUserId: actor.userId,
			subjectUserId: actor.userId,
			provider: updated.provider,
			keyId: updated.id,
			ip: actor.ip
		});
		return updated;
	});
	if (!row) throw keyNotFound();
	return toMetadata(row);
}

/** Checks one of the caller's keys with its provider now and stores the outcome. */
export async function validateKey(deps: KeyManagerDeps, actor: KeyActor, input: unknown): Promise<ValidatedKey> {
	const { id } = parseInput(keyIdInput, input);
	const row = await deps.db
		.selectFrom('provider_keys')
		.select(['id', 'user_id', 'provider', 'master_key_id', 'nonce', 'ciphertext'])
		.where('id', '=', id)
		.where('user_id', '=', actor.userId)
		.executeTakeFirst();
	if (!row) throw keyNotFound();
	const check = await withUnsealedKey(
		deps.keyring,
		{ userId: row.user_id, provider: row.provider },
		{ masterKeyId: row.master_key_id, nonce: row.nonce, ciphertext: row.ciphertext },
		(apiKey) => checkProviderKey(deps.config, row.provider, apiKey)
	);
	deps.keyHooks?.checked?.({ provider: row.provider, result: check.status, trigger: 'user' });
	const key = await recordCheck(deps.db, row.id, check, {
		actorUserId: actor.userId,
		ip: actor.ip,
		trigger: 'user'
	});
	if (!key) throw keyNotFound(); // removed while it was being checked
	const name = PROVIDER_NAMES[row.provider];
	const notice =
		check.status === 'valid'
			? `${name} accepted this key.`
			: check.status === 'invalid'
				? `${name} rejected this key (${check.httpStatus ?? 'refused'}). Replace it with a working key.`
				: `${name} could not be reached to check this key (${describeCheckFailure(check)}); it keeps its last known status and will be checked again within the hour.`;
	return { key, result: check.status, notice };
}

/**
 * Stores a check's outcome. Only a definitive answer changes `status`: an unreachable provider
 * leaves a valid key valid (and an unverified key unverified), recording the error code.
 */
export async function recordCheck(
	db: Kysely<Database>,
	keyId: string,
	check: KeyCheck,
	context: { actorUserId: string | null; ip: string | null; trigger: 'user' | 'scheduled' }
): Promise<KeyMetadata | undefined> {
	const definitive = check.status !== 'unverified';
	return db.transaction().execute(async (trx) => {
		const row = await trx
			.updateTable('provider_keys')
			.set({
				status: definitive ? check.status : sql<KeyStatus>`status`,
				last_error_code: check.errorCode ?? null,
				last_validated_at: definitive ? sql<Date>`now()` : sql<Date | null>`last_validated_at`,
				next_validation_at: secondsFromNow(RECHECK_AFTER_SECONDS[check.status]),
				updated_at: sql`now()`
			})
			.where('id', '=', keyId)
			.returning([...METADATA_COLUMNS, 'user_id'])
			.executeTakeFirst();
		if (!row) return undefined;
		// Once per key (the window is the key id): from a scheduled check or a Test the user ran.
		if (row.status === 'invalid') {
			await notifyKeyInvalid(trx, { userId: row.user_id, provider: row.provider, keyId: row.id, last4: row.last4 });
		}
		await recordAudit(trx, {
			action: 'key.validate',
			actorUserId: context.actorUserId,
			subjectUserId: row.user_id,
			provider: row.provider,
			keyId: row.id,
			ip: context.ip,
			details: {
				result: check.status,
				status: row.status,
				errorCode: check.errorCode ?? null,
				trigger: context.trigger
			}
		});
		return toMetadata(row);
	});
}

/** Tells the user (bell and toast) once per key that it stopped working. */
async function notifyKeyInvalid(
	db: Kysely<Database>,
	key: { userId: string; provider: Provider; keyId: string; last4: string }
): Promise<void> {
	const name = PROVIDER_NAMES[key.provider];
	await notify(db, {
		userId: key.userId,
		kind: 'key_invalid',
		provider: key.provider,
		keySource: 'user',
		windowKey: `key:${key.keyId}`,
		message: `${name} rejected your key (…${key.last4}), so it is marked invalid. Replace or re-test it on the API keys page.`
	});
}

function describeCheckFailure(check: KeyCheck): string {
	if (check.errorCode === 'timeout') return 'no answer within 10 seconds';
	if (check.errorCode === 'network') return 'network error';
	if (check.httpStatus !== undefined) return `it answered ${check.httpStatus}`;
	return check.errorCode ?? 'no answer';
}

/**
 * Opens the user's active key for `provider`, runs `fn` with it, and zeroes the unsealed bytes
 * afterwards. For routing: `fn` builds the SDK client and makes the call.
 */
export async function withOpenedKey<T>(
	db: Kysely<Database>,
	keyring: Keyring,
	subject: SealSubject,
	fn: (apiKey: string, key: KeyMetadata) => T | Promise<T>
): Promise<T> {
	const row = await db
		.selectFrom('provider_keys')
		.select([...METADATA_COLUMNS, 'master_key_id', 'nonce', 'ciphertext'])
		.where('user_id', '=', subject.userId)
		.where('provider', '=', subject.provider)
		.where('is_active', '=', true)
		.executeTakeFirst();
	if (!row) {
		throw new AppError('not_found', `You have no active ${PROVIDER_NAMES[subject.provider]} key.`, {
			reason: 'no_key'
		});
	}
	const metadata = toMetadata(row);
	return withUnsealedKey(
		keyring,
		subject,
		{ masterKeyId: row.master_key_id, nonce: row.nonce, ciphertext: row.ciphertext },
		(apiKey) => fn(apiKey, metadata)
	);
}

/** An active key with its sealed form, so routing can plan and open it from one query. */
export interface RoutableKey extends KeyMetadata {
	sealed: SealedKey;
	/** `last_used_at` is unset or older than a minute (judged by the database clock): `markKeyUsed` is due. */
	useStale: boolean;
}

/** A row of `routableKeysQuery`. */
export interface RoutableKeyRow extends MetadataRow {
	master_key_id: string;
	nonce: Uint8Array;
	ciphertext: Uint8Array;
	use_stale: boolean;
}

const staleUseSql = lastUseIsStale('provider_keys.last_used_at');

/**
 * The user's active keys (at most one per provider) with their sealed material, as a query that
 * routing embeds in its own statement (with the fallback preferences, and on the API with the
 * access token check), so planning costs no round trip of its own and the chosen key opens without
 * asking the database again. `userId` is a value or a reference to an outer query's column (a
 * lateral join). Rows map with `toRoutableKey`.
 */
export function routableKeysQuery(db: Kysely<Database>, userId: string | Expression<string>) {
	return db
		.selectFrom('provider_keys')
		.select([...METADATA_COLUMNS, 'master_key_id', 'nonce', 'ciphertext', staleUseSql.as('use_stale')])
		.where('provider_keys.user_id', '=', userId)
		.where('is_active', '=', true);
}

export function toRoutableKey(row: RoutableKeyRow): RoutableKey {
	return {
		...toMetadata(row),
		sealed: { masterKeyId: row.master_key_id, nonce: row.nonce, ciphertext: row.ciphertext },
		useStale: row.use_stale
	};
}

/** Opens a key fetched by `routableKeysQuery` for one call; the bytes are zeroed afterwards. */
export function withRoutableKey<T>(
	keyring: Keyring,
	userId: string,
	key: RoutableKey,
	fn: (apiKey: string) => T | Promise<T>
): Promise<T> {
	return withUnsealedKey(keyring, { userId, provider: key.provider }, key.sealed, (apiKey) => fn(apiKey));
}

/**
 * Records that a request used the key; at most one write a minute per key (routing only calls it
 * when the key's `useStale` says a write is due; the condition here covers concurrent requests).
 */
export async function markKeyUsed(db: Kysely<Database>, keyId: string): Promise<void> {
	await db
		.updateTable('provider_keys')
		.set({ last_used_at: sql`now()` })
		.where('id', '=', keyId)
		.where(staleUseSql)
		.execute();
}

/**
 * The provider rejected the key during a request (401/403): mark it invalid and audit that,
 * once (a key already invalid is left alone). Returns whether it changed.
 */
export async function markKeyInvalid(
	db: Kysely<Database>,
	keyId: string,
	errorCode: string,
	context: { actorUserId?: string | null; ip?: string | null } = {}
): Promise<boolean> {
	const code = errorCode.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 64) || 'invalid';
	return db.transaction().execute(async (trx) => {
		const row = await trx
			.updateTable('provider_keys')
			.set({
				status: 'invalid',
				last_error_code: code,
				last_validated_at: sql`now()`,
				next_validation_at: secondsFromNow(RECHECK_AFTER_SECONDS.invalid),
				updated_at: sql`now()`
			})
			.where('id', '=', keyId)
			.where('status', '<>', 'invalid')
			.returning(['id', 'user_id', 'provider', 'last4'])
			.executeTakeFirst();
		if (!row) return false;
		await notifyKeyInvalid(trx, { userId: row.user_id, provider: row.provider, keyId: row.id, last4: row.last4 });
		await recordAudit(trx, {
			action: 'key.invalidate',
			actorUserId: context.actorUserId ?? null,
			subjectUserId: row.user_id,
			provider: row.provider,
			keyId: row.id,
			ip: context.ip ?? null,
			details: { errorCode: code, source: 'request' }
		});
		return true;
	});
}
