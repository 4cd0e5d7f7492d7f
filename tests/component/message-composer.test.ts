import { fireEvent, render, screen } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import Composer from '$lib/components/chat/Composer.svelte';

const box = () => screen.getByLabelText('Message', { exact: true }) as HTMLTextAreaElement;

describe('Composer', () => {
	it('sends with Enter and empties the box', async () => {
		const onsend = vi.fn();
		render(Composer, { streaming: false, onsend, onstop: vi.fn() });
		await fireEvent.input(box(), { target: { value: 'Hello there' } });
		await fireEvent.keyDown(box(), { key: 'Enter' });
		expect(onsend).toHaveBeenCalledWith('Hello there', []);
		expect(box().value).toBe('');
	});

	it('keeps Shift+Enter for a new line, and Enter that confirms an IME composition', async () => {
		const onsend = vi.fn();
		render(Composer, { streaming: false, onsend, onstop: vi.fn() });
		await fireEvent.input(box(), { target: { value: 'line one' } });
		await fireEvent.keyDown(box(), { key: 'Enter', shiftKey: true });
		await fireEvent.keyDown(box(), { key: 'Enter', isComposing: true });
		expect(onsend).not.toHaveBeenCalled();
	});

	it('does not send an empty message', async () => {
		const onsend = vi.fn();
		render(Composer, { streaming: false, onsend, onstop: vi.fn() });
		await fireEvent.input(box(), { target: { value: '   ' } });
		await fireEvent.keyDown(box(), { key: 'Enter' });
		expect(onsend).not.toHaveBeenCalled();
		expect((screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement).disabled).toBe(true);
	});

	it('offers Stop instead of Send while an answer streams', async () => {
		const onsend = vi.fn();
		const onstop = vi.fn();
		render(Composer, { streaming: true, onsend, onstop });
		expect(screen.queryByRole('button', { name: 'Send' })).toBeNull();
		await fireEvent.input(box(), { target: { value: 'next question' } });
		await fireEvent.keyDown(box(), { key: 'Enter' });
		expect(onsend).not.toHaveBeenCalled();
		await fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
		expect(onstop).toHaveBeenCalledOnce();
		// The typed text waits for the answer to finish.
		expect(box().value).toBe('next question');
		expect(document.activeElement).toBe(box());
	});
});
