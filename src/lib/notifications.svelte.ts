/**
 * The signed-in user's notifications in the browser: the bell's list and unread count, and the
 * toasts for notifications that arrived after the page loaded. One `NotificationCenter` per tab,
 * fed by the (app) layout's data, by polling `notifications.list`, and by `refreshNotifications()`
 * (the chat page calls it after each turn, since a turn can cross a cap or reject a key).
 *
 * On the server nothing here is shared between requests: the layout renders the bell from a
 * fresh center seeded with that request's data, and only the browser uses the singleton.
 */
// Sets, maps and dates here are private bookkeeping or values replaced whole, never mutated in
// place where a component reads them, so Svelte's reactive versions would add nothing.
/* eslint-disable svelte/prefer-svelte-reactivity */
import type { ProviderId } from '$lib/providers';
import { browser } from '$app/environment';

export type NotificationKind =
	| 'cap_80'
	| 'cap_100'
	| 'hourly_80'
	| 'hourly_100'
	| 'key_paused'
	| 'key_invalid'
	| 'key_expiring'
	| 'app_budget_80'
	| 'app_budget_100'
	| 'unusual_usage';

/** What the browser sees of a notification (the server's `Notification`). */
export interface NotificationItem {
	id: string;
	kind: NotificationKind;
	provider: ProviderId;
	keySource: 'user' | 'app';
	message: string;
	createdAt: Date;
	readAt: Date | null;
}

/** What the (app) layout load returns: the unread ones, and the latest few read or not. */
export interface NotificationsSnapshot {
	unread: NotificationItem[];
	recent: NotificationItem[];
}

/** The two calls the center makes; the browser uses tRPC, tests pass their own. */
export interface NotificationsApi {
	list(input: { unreadOnly?: boolean; limit?: number }): Promise<NotificationItem[]>;
	markRead(input: { ids: string[] } | { all: true }): Promise<{ updated: number }>;
}

/** How many unread notifications are fetched (and so counted); the badge says "99+" beyond 99. */
export const UNREAD_LIMIT = 100;
/** How many of the latest notifications (read or not) the bell lists. */
export const RECENT_LIMIT = 20;
export const POLL_INTERVAL_MS = 30_000;
/** At most this many toasts at once; older ones give way (they stay in the bell). */
const MAX_TOASTS = 3;

const newestFirst = (a: NotificationItem, b: NotificationItem) =>
	b.createdAt.getTime() - a.createdAt.getTime() || a.id.localeCompare(b.id);

export class NotificationCenter {
	unread = $state<NotificationItem[]>([]);
	recent = $state<NotificationItem[]>([]);
	toasts = $state<NotificationItem[]>([]);
	/** The last refresh failed (offline, signed out): the bell says so instead of a stale count. */
	failed = $state(false);

	readonly unreadCount = $derived(this.unread.length);
	/** Unread first is not what people expect from a bell: newest first, unread ones marked. */
	readonly items = $derived(mergeItems(this.unread, this.recent));

	/** Ids this tab has already seen; anything else that shows up unread is new and gets a toast. */
	#known = new Set<string>();
	#seeded = false;
	#inFlight: Promise<void> | null = null;

	constructor(private readonly api: NotificationsApi) {}

	/**
	 * Takes the server's view. The first one (page load) only seeds what is known; later ones
	 * (after a navigation or a form action) toast what is new since.
	 */
	sync(snapshot: NotificationsSnapshot): void {
		this.#apply(snapshot.unread, snapshot.recent);
	}

	/** Fetches the unread and recent notifications now; concurrent calls share one request. */
	refresh(): Promise<void> {
		this.#inFlight ??= (async () => {
			try {
				const [unread, recent] = await Promise.all([
					this.api.list({ unreadOnly: true, limit: UNREAD_LIMIT }),
					this.api.list({ limit: RECENT_LIMIT })
				]);
				this.#apply(unread, recent);
				this.failed = false;
			} catch {
				this.failed = true;
			} finally {
				this.#inFlight = null;
			}
		})();
		return this.#inFlight;
	}

	async markRead(ids: string[]): Promise<void> {
		if (ids.length === 0) return;
		const now = new Date();
		const wanted = new Set(ids);
		this.#markLocally((n) => wanted.has(n.id), now);
		try {
			await this.api.markRead({ ids });
		} finally {
			await this.refresh();
		}
	}

	async markAllRead(): Promise<void> {
		this.#markLocally(() => true, new Date());
		try {
			await this.api.markRead({ all: true });
		} finally {
			await this.refresh();
		}
	}

	dismissToast(id: string): void {
		this.toasts = this.toasts.filter((t) => t.id !== id);
	}

	/** Polls every `intervalMs` while the tab is visible, and at once when it becomes visible again. Returns the stop function. */
	startPolling(intervalMs = POLL_INTERVAL_MS): () => void {
		if (typeof document === 'undefined') return () => {};
		const tick = () => {
			if (document.visibilityState === 'visible') void this.refresh();
		};
		const timer = setInterval(tick, intervalMs);
		document.addEventListener('visibilitychange', tick);
		return () => {
			clearInterval(timer);
			document.removeEventListener('visibilitychange', tick);
		};
	}

	#apply(unread: NotificationItem[], recent: NotificationItem[]): void {
		const fresh = this.#seeded ? unread.filter((n) => !this.#known.has(n.id)) : [];
		for (const n of [...unread, ...recent]) this.#known.add(n.id);
		this.#seeded = true;
		this.unread = [...unread].sort(newestFirst);
		this.recent = [...recent].sort(newestFirst);
		const stillUnread = new Set(unread.map((n) => n.id));
		const kept = this.toasts.filter((t) => stillUnread.has(t.id));
		this.toasts = [...kept, ...fresh.sort(newestFirst).reverse()].slice(-MAX_TOASTS);
	}

	#markLocally(which: (n: NotificationItem) => boolean, now: Date): void {
		const read = (n: NotificationItem) => (which(n) && !n.readAt ? { ...n, readAt: now } : n);
		this.recent = this.recent.map(read);
		this.unread = this.unread.filter((n) => !which(n));
		this.toasts = this.toasts.filter((n) => !which(n));
	}
}

function mergeItems(unread: NotificationItem[], recent: NotificationItem[]): NotificationItem[] {
	const byId = new Map<string, NotificationItem>();
	for (const n of recent) byId.set(n.id, n);
	for (const n of unread) byId.set(n.id, n);
	return [...byId.values()].sort(newestFirst).slice(0, Math.max(RECENT_LIMIT, unread.length));
}

/** "99+" past 99; the exact number up to there. */
export const unreadBadge = (count: number): string => (count > 99 ? '99+' : String(count));

/** Narrows the (app) layout's data, which the root layout reads through `page.data` (untyped there). */
export function snapshotOf(value: unknown): NotificationsSnapshot | null {
	if (typeof value !== 'object' || value === null) return null;
	const { unread, recent } = value as Record<string, unknown>;
	return Array.isArray(unread) && Array.isArray(recent)
		? { unread: unread as NotificationItem[], recent: recent as NotificationItem[] }
		: null;
}

let browserCenter: NotificationCenter | undefined;

/** The tab's center, talking tRPC. Browser only: on the server make a fresh one per render. */
export function notificationCenter(): NotificationCenter {
	if (!browser) throw new Error('notificationCenter() is for the browser; render from the layout data on the server');
	browserCenter ??= new NotificationCenter({
		list: async (input) => (await import('$lib/trpc')).trpc().notifications.list.query(input),
		markRead: async (input) => (await import('$lib/trpc')).trpc().notifications.markRead.mutate(input)
	});
	return browserCenter;
}

/**
 * Fetches notifications now (bell count and toasts). Call it after anything that may have
 * created one, e.g. after each chat turn. Does nothing on the server or before sign-in.
 */
export function refreshNotifications(): Promise<void> {
	return browser && browserCenter ? browserCenter.refresh() : Promise.resolve();
}

/** Forgets the tab's center (sign-out), so the next user starts from their own data. */
export function resetNotificationCenter(): void {
	browserCenter = undefined;
}
