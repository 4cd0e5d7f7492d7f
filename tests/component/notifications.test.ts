import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import NotificationBell from '$lib/components/notifications/NotificationBell.svelte';
import Toasts from '$lib/components/notifications/Toasts.svelte';
import { NotificationCenter, type NotificationItem, type NotificationsApi } from '$lib/notifications.svelte';

let sequence = 0;
function notification(message: string, overrides: Partial<NotificationItem> = {}): NotificationItem {
	sequence += 1;
	return {
		id: `00000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
		kind: 'cap_80',
		provider: 'openai',
		keySource: 'user',
		message,
		createdAt: new Date(Date.UTC(2026, 2, 14, 10, sequence)),
		readAt: null,
		...overrides
	};
}

/** An in-memory notifications API: what the server would answer, and what was asked of it. */
function fakeApi(initial: NotificationItem[]) {
	let store = initial.map((n) => ({ ...n }));
	const markReadCalls: unknown[] = [];
	const api: NotificationsApi = {
		async list({ unreadOnly }) {
			return store.filter((n) => !unreadOnly || !n.readAt).map((n) => ({ ...n }));
		},
		async markRead(input) {
			markReadCalls.push(input);
			const now = new Date();
			store = store.map((n) => ('all' in input || input.ids.includes(n.id) ? { ...n, readAt: n.readAt ?? now } : n));
			return { updated: 1 };
		}
	};
	return {
		api,
		markReadCalls,
		add(n: NotificationItem) {
			store = [...store, n];
		}
	};
}

function seeded(items: NotificationItem[]) {
	const server = fakeApi(items);
	const center = new NotificationCenter(server.api);
	center.sync({ unread: items.filter((n) => !n.readAt), recent: items });
	return { server, center };
}

describe('NotificationBell', () => {
	it('shows the unread count and lists the notifications, unread ones marked', () => {
		const first = notification('You used 80% of your daily OpenAI cap on your own key.');
		const second = notification('Anthropic rejected your key.', { kind: 'key_invalid', provider: 'anthropic' });
		const old = notification('An old one.', { readAt: new Date('2026-03-14T11:00:00Z') });
		const { center } = seeded([first, second, old]);
		render(NotificationBell, { center });

		const summary = screen.getByLabelText('Notifications, 2 unread');
		expect(screen.getByTestId('unread-count').textContent).toBe('2');
		const list = within(summary.closest('details') as HTMLElement);
		const items = list.getAllByRole('listitem').map((li) => li.querySelector('.message')?.textContent?.trim());
		expect(items).toEqual([
			'An old one.',
			'Unread: Anthropic rejected your key.',
			'Unread: You used 80% of your daily OpenAI cap on your own key.'
		]);
	});

	it('marks one notification read, then all of them', async () => {
		const first = notification('First.');
		const second = notification('Second.');
		const third = notification('Third.');
		const { server, center } = seeded([first, second, third]);
		render(NotificationBell, { center });
		const summary = screen.getByLabelText('Notifications, 3 unread');
		await fireEvent.click(summary);

		await fireEvent.click(screen.getByRole('button', { name: 'Mark read: Second.' }));
		await waitFor(() => expect(screen.getByLabelText('Notifications, 2 unread')).toBeTruthy());
		expect(server.markReadCalls).toEqual([{ ids: [second.id] }]);
		expect(screen.queryByRole('button', { name: 'Mark read: Second.' })).toBeNull();

		await fireEvent.click(screen.getByRole('button', { name: 'Mark all read' }));
		await waitFor(() => expect(screen.getByLabelText('Notifications')).toBeTruthy());
		expect(server.markReadCalls).toEqual([{ ids: [second.id] }, { all: true }]);
		expect(screen.queryByTestId('unread-count')).toBeNull();
		expect(screen.queryByRole('button', { name: 'Mark all read' })).toBeNull();
		// Read ones stay listed.
		expect(screen.getAllByRole('listitem')).toHaveLength(3);
	});

	it('says so when there are no notifications', () => {
		const { center } = seeded([]);
		render(NotificationBell, { center });
		expect(screen.getByLabelText('Notifications')).toBeTruthy();
		expect(screen.getByText(/No notifications yet/)).toBeTruthy();
	});

	it('counts past 99 as 99+', () => {
		const many = Array.from({ length: 100 }, (_, i) => notification(`Note ${i}.`));
		const { center } = seeded(many);
		render(NotificationBell, { center });
		expect(screen.getByTestId('unread-count').textContent).toBe('99+');
		expect(screen.getByLabelText('Notifications, 99+ unread')).toBeTruthy();
	});
});

describe('Toasts', () => {
	it('pops up only notifications that arrive after the page loaded', async () => {
		const before = notification('Already there when the page loaded.');
		const { server, center } = seeded([before]);
		render(Toasts, { center });
		expect(screen.queryByText('Already there when the page loaded.')).toBeNull();

		const fresh = notification('OpenAI rejected your key.', { kind: 'key_invalid' });
		server.add(fresh);
		await center.refresh();
		const region = screen.getByRole('status', { name: 'New notifications' });
		await waitFor(() => expect(within(region).getByText('OpenAI rejected your key.')).toBeTruthy());
		expect(within(region).queryByText('Already there when the page loaded.')).toBeNull();

		// The same notification again (next poll, or the layout's data) is not a second toast.
		await center.refresh();
		center.sync({ unread: [before, fresh], recent: [before, fresh] });
		expect(within(region).getAllByText('OpenAI rejected your key.')).toHaveLength(1);
	});

	it('dismisses a toast without marking it read, or marks it read from the toast', async () => {
		const { server, center } = seeded([]);
		render(Toasts, { center });
		const one = notification('One.');
		const two = notification('Two.');
		server.add(one);
		server.add(two);
		await center.refresh();
		await waitFor(() => expect(screen.getByText('One.')).toBeTruthy());

		await fireEvent.click(
			within(screen.getByText('One.').parentElement as HTMLElement).getByRole('button', { name: 'Dismiss' })
		);
		await waitFor(() => expect(screen.queryByText('One.')).toBeNull());
		expect(center.unreadCount).toBe(2);

		await fireEvent.click(
			within(screen.getByText('Two.').parentElement as HTMLElement).getByRole('button', { name: 'Mark read' })
		);
		await waitFor(() => expect(screen.queryByText('Two.')).toBeNull());
		expect(server.markReadCalls).toEqual([{ ids: [two.id] }]);
		expect(center.unreadCount).toBe(1);
	});

	it('hides a toast after a while (the bell keeps it)', async () => {
		const { server, center } = seeded([]);
		render(Toasts, { center, visibleMs: 20 });
		server.add(notification('Short-lived.'));
		await center.refresh();
		await waitFor(() => expect(screen.getByText('Short-lived.')).toBeTruthy());
		await waitFor(() => expect(screen.queryByText('Short-lived.')).toBeNull());
		expect(center.unreadCount).toBe(1);
	});
});
