import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import ModelSelector from '$lib/components/chat/ModelSelector.svelte';
import type { ModelOption } from '$lib/components/chat/types';

function model(overrides: Partial<ModelOption> & Pick<ModelOption, 'id' | 'provider' | 'displayName'>): ModelOption {
	return {
		contextWindow: 128_000,
		maxOutputTokens: 16_384,
		price: { inputMicrosPerMTok: 150_000, outputMicrosPerMTok: 600_000, cachedInputMicrosPerMTok: null },
		input: ['text'],
		created: null,
		keySource: 'app',
		servedBy: 'openrouter',
		userHasKey: false,
		requiresKey: false,
		allowFallback: true,
		warning: "This will use the app's key, within your daily app allowance.",
		...overrides
	};
}

const MODELS: ModelOption[] = [
	model({
		id: 'openai/gpt-4o-mini',
		provider: 'openai',
		displayName: 'GPT-4o mini',
		keySource: 'user',
		servedBy: 'openai',
		userHasKey: true,
		warning: null
	}),
	model({
		id: 'openai/gpt-4o',
		provider: 'openai',
		displayName: 'GPT-4o',
		price: { inputMicrosPerMTok: 2_500_000, outputMicrosPerMTok: 10_000_000, cachedInputMicrosPerMTok: null },
		input: ['text'],
		created: null,
		keySource: 'user',
		servedBy: 'openai',
		userHasKey: true,
		warning: null
	}),
	model({
		id: 'anthropic/claude-sonnet-4',
		provider: 'anthropic',
		displayName: 'Claude Sonnet 4',
		price: { inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000, cachedInputMicrosPerMTok: null },
		input: ['text'],
		created: null
	}),
	model({
		id: 'google/gemini-2.5-pro',
		provider: 'google',
		displayName: 'Gemini 2.5 Pro',
		keySource: 'unavailable',
		servedBy: null,
		requiresKey: true,
		allowFallback: false,
		warning: 'Needs your Google Gemini key (fallback is off).'
	}),
	model({
		id: 'google/gemini-2.5-flash',
		provider: 'google',
		displayName: 'Gemini 2.5 Flash',
		price: { inputMicrosPerMTok: 300_000, outputMicrosPerMTok: 2_500_000, cachedInputMicrosPerMTok: null },
		input: ['text'],
		created: null
	})
];

const options = () => screen.getAllByRole('option', { hidden: true });
const optionNamed = (name: string) => options().find((o) => o.textContent?.includes(name))!;

describe('ModelSelector', () => {
	it('marks a model a limit blocks as such, not with its key, and says the app-key note once', async () => {
		const blocked = model({
			id: 'openai/gpt-4o',
			provider: 'openai',
			displayName: 'GPT-4o',
			keySource: 'user',
			servedBy: null,
			userHasKey: true,
			warning: "Today's spending cap for OpenAI is reached; it resets at 00:00 UTC."
		});
		const app = (n: number) =>
			model({
				id: `anthropic/claude-${n}`,
				provider: 'anthropic',
				displayName: `Claude ${n}`,
				warning: "This will use the app's key, within your daily app allowance."
			});
		render(ModelSelector, { models: [blocked, app(1), app(2), app(3)], value: 'anthropic/claude-1' });
		expect(optionNamed('GPT-4o').querySelector('.badge')?.textContent).toBe('Limit reached');
		// Why it cannot be chosen stays on the option; the routine app note is said once for the list.
		expect(optionNamed('GPT-4o').querySelector('.option-warning')?.textContent).toContain('spending cap');
		expect(
			options().filter((o) => o.querySelector('.option-warning')?.textContent?.includes("app's key"))
		).toHaveLength(0);
		expect(document.querySelector('.app-note')?.textContent).toContain('daily app allowance');
		await fireEvent.click(screen.getByRole('combobox', { name: 'Model' }));
		// The option in focus (the chosen one) shows its own note.
		expect(
			options().filter((o) => o.querySelector('.option-warning')?.textContent?.includes("app's key"))
		).toHaveLength(1);
	});

	it('groups the models by provider, in the order given', () => {
		render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini' });
		const groups = screen.getAllByRole('group', { hidden: true });
		expect(
			groups.map((g) => g.getAttribute('aria-labelledby')).map((id) => document.getElementById(id!)?.textContent)
		).toEqual(['OpenAI', 'Anthropic', 'Google Gemini']);
		const namesIn = (group: HTMLElement) =>
			within(group)
				.getAllByRole('option', { hidden: true })
				.map((o) => o.querySelector('.name')?.textContent);
		expect(namesIn(groups[0]!)).toEqual(['GPT-4o mini', 'GPT-4o']);
		expect(namesIn(groups[2]!)).toEqual(['Gemini 2.5 Pro', 'Gemini 2.5 Flash']);
	});

	it('marks each model with the key that would serve it', () => {
		render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini' });
		const badge = (name: string) => optionNamed(name).querySelector('.badge')?.textContent;
		expect(badge('GPT-4o mini')).toBe('🔑 Your key');
		expect(badge('Claude Sonnet 4')).toBe('App');
		expect(badge('Gemini 2.5 Pro')).toBe('Needs a key');
		// The closed combobox shows the chosen model and its badge.
		const combobox = screen.getByRole('combobox', { name: 'Model' });
		expect(combobox.textContent).toContain('GPT-4o mini');
		expect(combobox.textContent).toContain('🔑 Your key');
	});

	it('shows prices per million tokens, the cached rate where it differs, the context and image input', () => {
		const withCache = MODELS.map((m) =>
			m.id === 'openai/gpt-4o-mini'
				? {
						...m,
						input: ['text', 'image'],
						price: { inputMicrosPerMTok: 150_000, outputMicrosPerMTok: 600_000, cachedInputMicrosPerMTok: 75_000 }
					}
				: m
		);
		render(ModelSelector, { models: withCache, value: 'openai/gpt-4o-mini' });
		expect(optionNamed('GPT-4o mini').textContent).toContain('$0.15 in (cached $0.075) · $0.60 out per 1M tokens');
		expect(optionNamed('GPT-4o mini').textContent).toContain('128k context · reads images');
		expect(optionNamed('Claude Sonnet 4').textContent).toContain('$3.00 in · $15.00 out per 1M tokens');
		expect(optionNamed('Gemini 2.5 Flash').textContent).toContain('$0.30 in · $2.50 out per 1M tokens');
	});

	it('says a price is unknown rather than showing $0, and that only the own key serves it', () => {
		const unpriced = MODELS.map((m) => (m.id === 'openai/gpt-4o' ? { ...m, price: null } : m));
		render(ModelSelector, { models: unpriced, value: 'openai/gpt-4o-mini' });
		expect(options().find((o) => o.querySelector('.name')?.textContent === 'GPT-4o')?.textContent).toContain(
			'Price unknown: your own key only'
		);
	});

	it('filters the list as you type in its search field, by name, id or provider', async () => {
		const onchange = vi.fn();
		render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini', onchange });
		const combobox = screen.getByRole('combobox', { name: 'Model' });
		await fireEvent.click(combobox);
		const search = screen.getByRole('searchbox', { name: 'Search models' });
		await fireEvent.input(search, { target: { value: 'anthropic sonnet' } });
		expect(options().map((o) => o.querySelector('.name')?.textContent)).toEqual(['Claude Sonnet 4']);
		await fireEvent.keyDown(search, { key: 'Enter' });
		expect(onchange).toHaveBeenLastCalledWith('anthropic/claude-sonnet-4');
		await fireEvent.click(combobox);
		await fireEvent.input(screen.getByRole('searchbox', { name: 'Search models' }), {
			target: { value: 'no such model' }
		});
		expect(screen.queryAllByRole('option', { hidden: true })).toHaveLength(0);
		expect(
			screen
				.getAllByRole('status')
				.map((s) => s.textContent)
				.join(' ')
		).toContain('No model matches');
	});

	it('shows the warning of a choice that bills the app, and none for the own key', async () => {
		const { rerender } = render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini' });
		expect(screen.queryByRole('status')).toBeNull();
		expect(screen.getByRole('combobox').getAttribute('aria-describedby')).toBeNull();

		await rerender({ models: MODELS, value: 'anthropic/claude-sonnet-4' });
		const warning = screen.getByRole('status');
		expect(warning.textContent).toContain("This will use the app's key, within your daily app allowance.");
		expect(screen.getByRole('combobox').getAttribute('aria-describedby')).toBe(warning.id);
	});

	it('shows a limit warning when the cap is reached', () => {
		const capped = MODELS.map((m) =>
			m.id === 'openai/gpt-4o'
				? {
						...m,
						keySource: 'app' as const,
						warning: "Your own-key cap for OpenAI is reached today; this will bill the app's key."
					}
				: m
		);
		render(ModelSelector, { models: capped, value: 'openai/gpt-4o' });
		expect(screen.getByRole('status').textContent).toContain('Your own-key cap for OpenAI is reached today');
	});

	it('flags a model no key can serve and does not let it be chosen', async () => {
		const onchange = vi.fn();
		render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini', onchange });
		const unavailable = optionNamed('Gemini 2.5 Pro');
		expect(unavailable.getAttribute('aria-disabled')).toBe('true');
		expect(unavailable.textContent).toContain('Needs your Google Gemini key (fallback is off).');
		expect(optionNamed('Gemini 2.5 Flash').getAttribute('aria-disabled')).toBeNull();

		await fireEvent.click(screen.getByRole('combobox'));
		await fireEvent.click(unavailable);
		expect(onchange).not.toHaveBeenCalled();
		expect(screen.getByRole('combobox').textContent).toContain('GPT-4o mini');
		expect(unavailable.getAttribute('aria-selected')).toBe('false');
	});

	it('chooses a model with the mouse', async () => {
		const onchange = vi.fn();
		render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini', onchange });
		const combobox = screen.getByRole('combobox');
		await fireEvent.click(combobox);
		expect(combobox.getAttribute('aria-expanded')).toBe('true');
		await fireEvent.click(optionNamed('Claude Sonnet 4'));
		expect(onchange).toHaveBeenCalledWith('anthropic/claude-sonnet-4');
		expect(combobox.getAttribute('aria-expanded')).toBe('false');
		expect(combobox.textContent).toContain('Claude Sonnet 4');
		expect(optionNamed('Claude Sonnet 4').getAttribute('aria-selected')).toBe('true');
	});

	it('is selectable with the keyboard alone', async () => {
		const onchange = vi.fn();
		render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini', onchange });
		const combobox = screen.getByRole('combobox', { name: 'Model' });
		expect(combobox.getAttribute('tabindex')).toBe('0');
		combobox.focus();
		const active = () => document.getElementById(combobox.getAttribute('aria-activedescendant') ?? '');

		await fireEvent.keyDown(combobox, { key: 'ArrowDown' });
		expect(combobox.getAttribute('aria-expanded')).toBe('true');
		expect(screen.getByRole('listbox')).toBeTruthy();
		// The list opens on the current choice.
		expect(active()?.textContent).toContain('GPT-4o mini');

		await fireEvent.keyDown(combobox, { key: 'ArrowDown' });
		await fireEvent.keyDown(combobox, { key: 'ArrowDown' });
		expect(active()?.textContent).toContain('Claude Sonnet 4');
		await fireEvent.keyDown(combobox, { key: 'Enter' });
		expect(onchange).toHaveBeenLastCalledWith('anthropic/claude-sonnet-4');
		expect(combobox.getAttribute('aria-expanded')).toBe('false');

		// End, then Enter on an unavailable model: it stays open and nothing changes.
		await fireEvent.keyDown(combobox, { key: ' ' });
		await fireEvent.keyDown(combobox, { key: 'ArrowDown' });
		expect(active()?.textContent).toContain('Gemini 2.5 Pro');
		await fireEvent.keyDown(combobox, { key: 'Enter' });
		expect(onchange).toHaveBeenCalledTimes(1);
		expect(combobox.getAttribute('aria-expanded')).toBe('true');
		await fireEvent.keyDown(combobox, { key: 'End' });
		expect(active()?.textContent).toContain('Gemini 2.5 Flash');
		await fireEvent.keyDown(combobox, { key: 'Escape' });
		expect(combobox.getAttribute('aria-expanded')).toBe('false');
		expect(onchange).toHaveBeenCalledTimes(1);

		// Typing filters the list (name, id or provider); Backspace widens it again.
		for (const key of ['g', 'e', 'm']) await fireEvent.keyDown(combobox, { key });
		expect(combobox.getAttribute('aria-expanded')).toBe('true');
		expect(options().map((o) => o.querySelector('.name')?.textContent)).toEqual(['Gemini 2.5 Pro', 'Gemini 2.5 Flash']);
		expect(active()?.textContent).toContain('Gemini 2.5 Pro');
		for (let i = 0; i < 3; i++) await fireEvent.keyDown(combobox, { key: 'Backspace' });
		expect(options()).toHaveLength(MODELS.length);
		await fireEvent.keyDown(combobox, { key: 'Home' });
		await fireEvent.keyDown(combobox, { key: 'Enter' });
		expect(onchange).toHaveBeenLastCalledWith('openai/gpt-4o-mini');
	});

	it('cannot be opened while disabled', async () => {
		render(ModelSelector, { models: MODELS, value: 'openai/gpt-4o-mini', disabled: true });
		const combobox = screen.getByRole('combobox');
		expect(combobox.getAttribute('aria-disabled')).toBe('true');
		expect(combobox.getAttribute('tabindex')).toBe('-1');
		await fireEvent.keyDown(combobox, { key: 'ArrowDown' });
		await fireEvent.click(combobox);
		expect(combobox.getAttribute('aria-expanded')).toBe('false');
	});
});
