import { z } from 'zod';
import type { Kysely } from 'kysely';
import sodium from 'libsodium-wrappers';
import type { Config } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { keyBytes, sealKey, type Keyring } from '$lib/server/vault';
import { generateWebhookSecret } from './signature';

export interface AlertSettingsDeps {
	db: Kysely<Database>;
	keyring: Keyring;
	config: Pick<Config, 'env' | 'alerts'>;
}

/** What the Settings page shows: never the secret, only whether there is one. */
export interface AlertSettings {
	webhookUrl: string | null;
	hasSecret: boolean;
	emailEnabled: boolean;
	/** False when the server has no SMTP_URL: the opt-in is then unavailable. */
	emailAvailable: boolean;
}

const MAX_URL_LENGTH = 2000;
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export const setWebhookInput = z
	.object({
		url: z
			.string({ invalid_type_error: 'url must be a web address.' })
			.trim()
			.min(1, { message: 'Enter the address alerts should be sent to.' })
			.max(MAX_URL_LENGTH, { message: `The address may be at most ${MAX_URL_LENGTH} characters.` })
	})
	.strict();

export const setEmailInput = z
	.object({ enabled: z.boolean({ invalid_type_error: 'enabled must be true or false.' }) })
	.strict();

/**
 * https only, so the signed payload cannot be read on the way; plain http only to this machine
 * outside production (local receivers in development and tests). No credentials in the URL: it
 * is shown back on the page, and the signature is the authentication.
 */
export function checkWebhookUrl(raw: string, env: Config['env']): string {
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		throw new AppError('bad_request', 'Enter a full web address such as https://example.com/hooks/latchkey.', {
			reason: 'invalid_webhook_url'
		});
	}
	const localHttp = url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname) && env !== 'production';
	if (url.protocol !== 'https:' && !localHttp) {
		throw new AppError('bad_request', 'The webhook address must start with https://.', {
			reason: 'invalid_webhook_url'
		});
	}
	if (url.username || url.password) {
		throw new AppError('bad_request', 'Leave user names and passwords out of the address; requests are signed.', {
			reason: 'invalid_webhook_url'
		});
	}
	return url.toString();
}

export async function getAlertSettings(
	deps: Pick<AlertSettingsDeps, 'db' | 'config'>,
	userId: string
): Promise<AlertSettings> {
	const row = await deps.db
		.selectFrom('alert_settings')
		.select(['webhook_url', 'secret_ciphertext', 'email_enabled'])
		.where('user_id', '=', userId)
		.executeTakeFirst();
	return {
		webhookUrl: row?.webhook_url ?? null,
		hasSecret: Boolean(row?.secret_ciphertext),
		emailEnabled: row?.email_enabled ?? false,
		emailAvailable: deps.config.alerts.smtp !== undefined
	};
}

/** A secret sealed for this user's webhook; the plaintext is returned once, to be shown once. */
function newSealedSecret(keyring: Keyring, userId: string) {
	const secret = generateWebhookSecret();
	const bytes = keyBytes(secret);
	try {
		const sealed = sealKey(keyring, { userId, provider: 'alert_webhook' }, bytes);
		return {
			secret,
			columns: {
				secret_master_key_id: sealed.masterKeyId,
				secret_nonce: sealed.nonce,
				secret_ciphertext: sealed.ciphertext
			}
		};
	} finally {
		sodium.memzero(bytes);
	}
}

/**
 * Sets the webhook address. The first time (or after removal) a signing secret is made and
 * returned; changing the address keeps the secret, and `secret` is then null.
 */
export async function setWebhook(
	deps: AlertSettingsDeps,
	userId: string,
	input: z.output<typeof setWebhookInput>
): Promise<{ webhookUrl: string; secret: string | null }> {
	const webhookUrl = checkWebhookUrl(input.url, deps.config.env);
	return deps.db.transaction().execute(async (trx) => {
		const current = await trx
			.selectFrom('alert_settings')
			.select('secret_ciphertext')
			.where('user_id', '=', userId)
			.forUpdate()
			.executeTakeFirst();
		const fresh = current?.secret_ciphertext ? null : newSealedSecret(deps.keyring, userId);
		// Not an upsert: the insert half of one is checked before the conflict, and without the
		// secret columns it breaks the "a webhook is signed" constraint.
		if (current) {
			await trx
				.updateTable('alert_settings')
				.set({ webhook_url: webhookUrl, updated_at: new Date(), ...fresh?.columns })
				.where('user_id', '=', userId)
				.execute();
		} else {
			const inserted = await trx
				.insertInto('alert_settings')
				.values({ user_id: userId, webhook_url: webhookUrl, ...fresh?.columns })
				.onConflict((oc) => oc.column('user_id').doNothing())
				.executeTakeFirst();
			// Another request made the row meanwhile: its secret, not ours, is stored.
			if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
				throw new AppError('conflict', 'Your alert settings changed at the same time; try again.', {
					reason: 'concurrent_change'
				});
			}
		}
		return { webhookUrl, secret: fresh?.secret ?? null };
	});
}

/** A new secret for the existing webhook; the old one stops working at once. */
export async function rotateWebhookSecret(deps: AlertSettingsDeps, userId: string): Promise<{ secret: string }> {
	const fresh = newSealedSecret(deps.keyring, userId);
	const result = await deps.db
		.updateTable('alert_settings')
		.set({ ...fresh.columns, updated_at: new Date() })
		.where('user_id', '=', userId)
		.where('webhook_url', 'is not', null)
		.executeTakeFirst();
	if (Number(result.numUpdatedRows) === 0) {
		throw new AppError('not_found', 'Set a webhook address first.', { reason: 'no_webhook' });
	}
	return { secret: fresh.secret };
}

/** Removes the address and its secret; deliveries still queued for it fail as "removed". */
export async function removeWebhook(db: Kysely<Database>, userId: string): Promise<void> {
	await db
		.updateTable('alert_settings')
		.set({
			webhook_url: null,
			secret_master_key_id: null,
			secret_nonce: null,
			secret_ciphertext: null,
			updated_at: new Date()
		})
		.where('user_id', '=', userId)
		.execute();
}

export async function setEmailAlerts(
	deps: Pick<AlertSettingsDeps, 'db' | 'config'>,
	userId: string,
	input: z.output<typeof setEmailInput>
): Promise<{ emailEnabled: boolean }> {
	if (input.enabled && !deps.config.alerts.smtp) {
		throw new AppError('bad_request', 'This server cannot send e-mail (no SMTP server is configured).', {
			reason: 'email_unavailable'
		});
	}
	await deps.db
		.insertInto('alert_settings')
		.values({ user_id: userId, email_enabled: input.enabled })
		.onConflict((oc) => oc.column('user_id').doUpdateSet({ email_enabled: input.enabled, updated_at: new Date() }))
		.execute();
	return { emailEnabled: input.enabled };
}
