import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database, NotificationKind } from '$lib/server/db';

export type { NotificationKind };

export interface NewNotification {
	userId: string;
	kind: NotificationKind;
	provider: Provider;
	keySource: 'user' | 'app';
	/**
	 * The window this notification belongs to; one notification per (user, kind, provider,
	 * key source, window key). Defaults to the UTC day of `now`.
	 */
	windowKey?: string;
	message: string;
	now?: Date;
}

export interface Notification {
	id: string;
	kind: NotificationKind;
	provider: Provider;
	keySource: 'user' | 'app';
	windowKey: string;
	message: string;
	createdAt: Date;
	readAt: Date | null;
}

export const utcDay = (date: Date): string => date.toISOString().slice(0, 10);

/**
 * Records notifications, each at most once per window (a repeat is silently a no-op).
 * Returns how many were new. The routing engine calls it with kind 'key_invalid'.
 */
export async function notify(
	db: Kysely<Database>,
	notifications: NewNotification | NewNotification[]
): Promise<number> {
	const list = Array.isArray(notifications) ? notifications : [notifications];
	if (list.length === 0) return 0;
	const result = await db
		.insertInto('notifications')
		.values(
			list.map((n) => ({
				user_id: n.userId,
				kind: n.kind,
				provider: n.provider,
				key_source: n.keySource,
				window_key: n.windowKey ?? utcDay(n.now ?? new Date()),
				message: n.message,
				...(n.now ? { created_at: n.now } : {})
			}))
		)
		.onConflict((oc) => oc.constraint('notifications_once_per_window').doNothing())
		.executeTakeFirst();
	return Number(result.numInsertedOrUpdatedRows ?? 0);
}

export const listNotificationsInput = z
	.object({
		unreadOnly: z.boolean({ invalid_type_error: 'unreadOnly must be true or false.' }).optional(),
		limit: z
			.number({ invalid_type_error: 'limit must be a whole number from 1 to 200.' })
			.int({ message: 'limit must be a whole number from 1 to 200.' })
			.min(1, { message: 'limit must be a whole number from 1 to 200.' })
			.max(200, { message: 'limit must be a whole number from 1 to 200.' })
			.optional()
	})
	.strict();

/** The user's notifications, newest first. */
export async function listNotifications(
	db: Kysely<Database>,
	userId: string,
	options: z.output<typeof listNotificationsInput> = {}
): Promise<Notification[]> {
	let query = db
		.selectFrom('notifications')
		.select(['id', 'kind', 'provider', 'key_source', 'window_key', 'message', 'created_at', 'read_at'])
		.where('user_id', '=', userId);
	if (options.unreadOnly) query = query.where('read_at', 'is', null);
	const rows = await query
		.orderBy('created_at', 'desc')
		.orderBy('id')
		.limit(options.limit ?? 50)
		.execute();
	return rows.map((row) => ({
		id: row.id,
		kind: row.kind,
		provider: row.provider,
		keySource: row.key_source,
		windowKey: row.window_key,
		message: row.message,
		createdAt: row.created_at,
		readAt: row.read_at
	}));
}

export const markReadInput = z.union(
	[
		z
			.object({
				ids: z
					.array(z.string().uuid({ message: 'ids must be notification ids.' }), {
						invalid_type_error: 'ids must be a list of notification ids.'
					})
					.min(1, { message: 'ids must name at least one notification.' })
					.max(500, { message: 'ids may name at most 500 notifications at once.' })
			})
			.strict(),
		z.object({ all: z.literal(true) }).strict()
	],
	{ errorMap: () => ({ message: 'Send either {ids: [...]} or {all: true}.' }) }
);

/** Marks the user's notifications read (only the user's own: ids of others are ignored). */
export async function markRead(
	db: Kysely<Database>,
	userId: string,
	which: z.output<typeof markReadInput>
): Promise<{ updated: number }> {
	let query = db
		.updateTable('notifications')
		.set({ read_at: new Date() })
		.where('user_id', '=', userId)
		.where('read_at', 'is', null);
	if ('ids' in which) query = query.where('id', 'in', which.ids);
	const result = await query.executeTakeFirst();
	return { updated: Number(result.numUpdatedRows) };
}
