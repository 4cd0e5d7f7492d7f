import type { Kysely } from 'kysely';
import type { AlertChannel, Database } from '$lib/server/db';
import { isVaultError, withUnsealedKey, type Keyring } from '$lib/server/vault';
import type { AlertsConfig } from '$lib/server/config';
import { mailErrorOf, type Mailer } from './mail';
import { SIGNATURE_HEADER, signatureHeader } from './signature';
import { reachesOnlyPublicAddresses } from './address-check';

export interface SendDeps {
	db: Kysely<Database>;
	keyring: Keyring;
	config: { alerts: AlertsConfig; env: 'development' | 'production' | 'test' };
	mailer: Mailer | undefined;
	/** Tests may shorten it; default 10 s. */
	timeoutMs?: number;
}

export interface ClaimedDelivery {
	id: string;
	notification_id: string | null;
	user_id: string | null;
	channel: AlertChannel;
	attempts: number;
}

/** One try's outcome; `retry: false` means trying again cannot help (channel removed, no SMTP). */
export interface SendOutcome {
	ok: boolean;
	httpStatus: number | null;
	error: string | null;
	retry: boolean;
}

/** The JSON every webhook receives (the admins' also names the user). */
export interface AlertPayload {
	type: 'notification' | 'test';
	deliveryId: string;
	notification: {
		id: string;
		kind: string;
		provider: string;
		keySource: string;
		windowKey: string;
		message: string;
		createdAt: string;
	} | null;
	user?: { id: string; email: string };
}

const TEST_MESSAGE = 'This is a test alert from Latchkey: your alerts reach you.';

const SUBJECTS: Record<string, string> = {
	cap_80: '80% of a daily spending cap used',
	cap_100: 'Daily spending cap reached',
	hourly_80: '80% of an hourly limit used',
	hourly_100: 'Hourly limit reached',
	key_paused: 'A key was paused',
	key_invalid: 'A provider rejected your key',
	app_budget_80: "80% of the app key's daily budget used",
	app_budget_100: "The app key's daily budget is used up",
	unusual_usage: 'Unusual usage on your account',
	test: 'Test alert'
};

export const subjectOf = (kind: string): string => `Latchkey: ${SUBJECTS[kind] ?? 'Alert'}`;

async function payloadOf(db: Kysely<Database>, delivery: ClaimedDelivery): Promise<AlertPayload> {
	if (!delivery.notification_id) return { type: 'test', deliveryId: delivery.id, notification: null };
	const n = await db
		.selectFrom('notifications')
		.select(['id', 'kind', 'provider', 'key_source', 'window_key', 'message', 'created_at'])
		.where('id', '=', delivery.notification_id)
		.executeTakeFirstOrThrow();
	return {
		type: 'notification',
		deliveryId: delivery.id,
		notification: {
			id: n.id,
			kind: n.kind,
			provider: n.provider,
			keySource: n.key_source,
			windowKey: n.window_key,
			message: n.message,
			createdAt: n.created_at.toISOString()
		}
	};
}

/** Sends one claimed delivery on its channel; never throws for a receiver's failure. */
export async function sendDelivery(deps: SendDeps, delivery: ClaimedDelivery): Promise<SendOutcome> {
	const payload = await payloadOf(deps.db, delivery);
	if (delivery.channel === 'admin_webhook') return sendAdminWebhook(deps, delivery, payload);
	if (!delivery.user_id) return { ok: false, httpStatus: null, error: 'delivery has no owner', retry: false };
	if (delivery.channel === 'email') return sendEmail(deps, delivery.user_id, payload);
	return sendUserWebhook(deps, delivery.user_id, payload);
}

async function sendUserWebhook(deps: SendDeps, userId: string, payload: AlertPayload): Promise<SendOutcome> {
	const settings = await deps.db
		.selectFrom('alert_settings')
		.select(['webhook_url', 'secret_master_key_id', 'secret_nonce', 'secret_ciphertext'])
		.where('user_id', '=', userId)
		.executeTakeFirst();
	if (
		!settings?.webhook_url ||
		!settings.secret_master_key_id ||
		!settings.secret_nonce ||
		!settings.secret_ciphertext
	) {
		return { ok: false, httpStatus: null, error: 'the webhook was removed', retry: false };
	}
	const url = settings.webhook_url;
	// Outside production, local receivers are the point (development, tests).
	if (deps.config.env === 'production' && !(await reachesOnlyPublicAddresses(url))) {
		return { ok: false, httpStatus: null, error: 'the address is in a private network', retry: false };
	}
	try {
		return await withUnsealedKey(
			deps.keyring,
			{ userId, provider: 'alert_webhook' },
			{
				masterKeyId: settings.secret_master_key_id,
				nonce: settings.secret_nonce,
				ciphertext: settings.secret_ciphertext
			},
			(secret) => postSigned(url, secret, JSON.stringify(payload), payload.deliveryId, deps.timeoutMs)
		);
	} catch (error) {
		if (!isVaultError(error)) throw error;
		return { ok: false, httpStatus: null, error: 'the signing secret cannot be opened; make a new one', retry: false };
	}
}

async function sendAdminWebhook(
	deps: SendDeps,
	delivery: ClaimedDelivery,
	payload: AlertPayload
): Promise<SendOutcome> {
	const admin = deps.config.alerts.adminWebhook;
	if (!admin) return { ok: false, httpStatus: null, error: 'ADMIN_WEBHOOK_URL is not set', retry: false };
	const owner = delivery.notification_id
		? await deps.db
				.selectFrom('notifications as n')
				.innerJoin('users as u', 'u.id', 'n.user_id')
				.select(['u.id', 'u.email'])
				.where('n.id', '=', delivery.notification_id)
				.executeTakeFirst()
		: undefined;
	const body = JSON.stringify(owner ? { ...payload, user: owner } : payload);
	return postSigned(admin.url, admin.secret, body, payload.deliveryId, deps.timeoutMs);
}

async function sendEmail(deps: SendDeps, userId: string, payload: AlertPayload): Promise<SendOutcome> {
	if (!deps.mailer) return { ok: false, httpStatus: null, error: 'this server has no SMTP_URL', retry: false };
	const user = await deps.db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirstOrThrow();
	const kind = payload.notification?.kind ?? 'test';
	const text = `${payload.notification?.message ?? TEST_MESSAGE}\n\nYou get these e-mails because you turned on e-mail alerts in Latchkey's settings.`;
	try {
		await deps.mailer.send({ to: user.email, subject: subjectOf(kind), text });
		return { ok: true, httpStatus: null, error: null, retry: false };
	} catch (error) {
		return { ok: false, httpStatus: null, error: mailErrorOf(error), retry: true };
	}
}

/**
 * POSTs a signed body. Redirects are not followed (a signed alert goes only where it was sent);
 * any 2xx is success. Errors name the failure, never the URL (it may carry a token).
 */
async function postSigned(
	url: string,
	secret: string,
	body: string,
	deliveryId: string,
	timeoutMs = 10_000
): Promise<SendOutcome> {
	try {
		const response = await fetch(url, {
			method: 'POST',
			redirect: 'manual',
			signal: AbortSignal.timeout(timeoutMs),
			headers: {
				'content-type': 'application/json',
				'user-agent': 'Latchkey-Alerts/1',
				'x-latchkey-delivery': deliveryId,
				[SIGNATURE_HEADER]: signatureHeader(secret, body, Date.now() / 1000)
			},
			body
		});
		await response.body?.cancel();
		const ok = response.status >= 200 && response.status < 300;
		return {
			ok,
			httpStatus: response.status,
			error: ok ? null : `receiver answered HTTP ${response.status}`,
			retry: true
		};
	} catch (error) {
		return { ok: false, httpStatus: null, error: fetchErrorOf(error), retry: true };
	}
}

function fetchErrorOf(error: unknown): string {
	if (error instanceof DOMException && error.name === 'TimeoutError') return 'no answer within the time limit';
	const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
	return typeof cause?.code === 'string' ? `could not connect (${cause.code})` : 'could not connect';
}
