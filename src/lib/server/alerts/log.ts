import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { AlertChannel, AlertDeliveryStatus, Database } from '$lib/server/db';
import { AppError } from '$lib/server/errors';

/** One delivery as the user's delivery log shows it, with each of its tries. */
export interface AlertDelivery {
	id: string;
	channel: AlertChannel;
	/** The notification's kind, or 'test'. */
	kind: string;
	status: AlertDeliveryStatus;
	attempts: number;
	nextAttemptAt: Date | null;
	lastHttpStatus: number | null;
	lastError: string | null;
	createdAt: Date;
	deliveredAt: Date | null;
	tries: { attempt: number; attemptedAt: Date; ok: boolean; httpStatus: number | null; error: string | null }[];
}

export const listDeliveriesInput = z
	.object({
		limit: z
			.number({ invalid_type_error: 'limit must be a whole number from 1 to 100.' })
			.int({ message: 'limit must be a whole number from 1 to 100.' })
			.min(1, { message: 'limit must be a whole number from 1 to 100.' })
			.max(100, { message: 'limit must be a whole number from 1 to 100.' })
			.optional()
	})
	.strict();

/** The user's deliveries, newest first (the admins' channel is not theirs to see). */
export async function listDeliveries(
	db: Kysely<Database>,
	userId: string,
	options: z.output<typeof listDeliveriesInput> = {}
): Promise<AlertDelivery[]> {
	const rows = await db
		.selectFrom('alert_deliveries as d')
		.leftJoin('notifications as n', 'n.id', 'd.notification_id')
		.select([
			'd.id',
			'd.channel',
			'n.kind',
			'd.status',
			'd.attempts',
			'd.next_attempt_at',
			'd.last_http_status',
			'd.last_error',
			'd.created_at',
			'd.delivered_at'
		])
		.where('d.user_id', '=', userId)
		.orderBy('d.created_at', 'desc')
		.orderBy('d.id')
		.limit(options.limit ?? 20)
		.execute();
	const tries =
		rows.length === 0
			? []
			: await db
					.selectFrom('alert_delivery_attempts')
					.select(['delivery_id', 'attempt', 'attempted_at', 'ok', 'http_status', 'error'])
					.where(
						'delivery_id',
						'in',
						rows.map((row) => row.id)
					)
					.orderBy('attempt')
					.execute();
	return rows.map((row) => ({
		id: row.id,
		channel: row.channel,
		kind: row.kind ?? 'test',
		status: row.status,
		attempts: row.attempts,
		nextAttemptAt: row.next_attempt_at,
		lastHttpStatus: row.last_http_status,
		lastError: row.last_error,
		createdAt: row.created_at,
		deliveredAt: row.delivered_at,
		tries: tries
			.filter((t) => t.delivery_id === row.id)
			.map((t) => ({
				attempt: t.attempt,
				attemptedAt: t.attempted_at,
				ok: t.ok,
				httpStatus: t.http_status,
				error: t.error
			}))
	}));
}

/** Queues a test alert on each channel the user has set up; the worker sends it within seconds. */
export async function queueTestDelivery(db: Kysely<Database>, userId: string): Promise<{ queued: AlertChannel[] }> {
	const settings = await db
		.selectFrom('alert_settings')
		.select(['webhook_url', 'email_enabled'])
		.where('user_id', '=', userId)
		.executeTakeFirst();
	const channels: AlertChannel[] = [];
	if (settings?.webhook_url) channels.push('webhook');
	if (settings?.email_enabled) channels.push('email');
	if (channels.length === 0) {
		throw new AppError('bad_request', 'Set a webhook address or turn on e-mail alerts first.', {
			reason: 'no_alert_channel'
		});
	}
	await db
		.insertInto('alert_deliveries')
		.values(channels.map((channel) => ({ user_id: userId, channel, next_attempt_at: new Date() })))
		.execute();
	return { queued: channels };
}
