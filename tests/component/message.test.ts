import { fireEvent, render, screen } from '@testing-library/svelte';
import { tick } from 'svelte';
import { describe, expect, it, vi } from 'vitest';
import Message from '$lib/components/chat/Message.svelte';
import { messageFromStored, type ChatMessageView } from '$lib/components/chat/types';

function answer(overrides: Partial<ChatMessageView> = {}): ChatMessageView {
	return {
		key: 'm1',
		id: 'm1',
		parentKey: null,
		images: [],
		role: 'assistant',
		content: '',
		model: 'openai/gpt-4o-mini',
		provider: 'openai',
		keySource: 'user',
		promptTokens: 12,
		completionTokens: 30,
		costMicros: 20,
		estimated: false,
		fallbackNotice: null,
		failure: null,
		streaming: false,
		...overrides
	};
}

/** Renders and waits for the Markdown pass that runs after mount. */
async function show(message: ChatMessageView, modelName: string | null = 'GPT-4o mini') {
	const result = render(Message, { message, modelName });
	await tick();
	return result;
}

describe('Message', () => {
	it('renders Markdown, with code blocks', async () => {
		const { container } = await show(
			answer({ content: '# Title\n\nSome **bold** text and `inline`.\n\n```ts\nconst x = 1 < 2;\n```\n\n- one\n- two' })
		);
		expect(container.querySelector('h1')?.textContent).toBe('Title');
		expect(container.querySelector('strong')?.textContent).toBe('bold');
		const code = container.querySelector('pre > code');
		expect(code?.textContent).toBe('const x = 1 < 2;\n');
		expect(code?.className).toBe('hljs language-ts');
		// Highlighted by highlight.js: the keyword and the number are their own spans.
		expect(code?.querySelector('.hljs-keyword')?.textContent).toBe('const');
		expect(code?.querySelector('.hljs-number')?.textContent).toBe('1');
		// Each code block gets a copy button (added after sanitizing).
		expect(container.querySelector('pre > button.copy-code')?.textContent).toBe('Copy code');
		expect(container.querySelectorAll('li')).toHaveLength(2);
	});

	it('folds a long question, offers copy and edit, and shows its place among versions', async () => {
		const onedit = vi.fn();
		const onsibling = vi.fn();
		const long = 'word '.repeat(400);
		const { container, getByRole } = render(Message, {
			message: answer({ role: 'user', content: long, model: null, keySource: null }),
			place: { index: 2, count: 3 },
			onedit,
			onsibling
		});
		expect(container.querySelector('.text.folded')).not.toBeNull();
		await fireEvent.click(getByRole('button', { name: /Show all \(2,000 characters\)/ }));
		expect(container.querySelector('.text.folded')).toBeNull();
		expect(container.querySelector('.versions')?.textContent).toContain('2 / 3');
		await fireEvent.click(getByRole('button', { name: 'Previous version of this question' }));
		expect(onsibling).toHaveBeenCalledWith(expect.objectContaining({ key: 'm1' }), -1);
		await fireEvent.click(getByRole('button', { name: 'Edit' }));
		const box = getByRole('textbox', { name: 'Edit your message' }) as HTMLTextAreaElement;
		await fireEvent.input(box, { target: { value: 'Shorter, please' } });
		await fireEvent.click(getByRole('button', { name: 'Save and send' }));
		expect(onedit).toHaveBeenCalledWith(expect.objectContaining({ key: 'm1' }), 'Shorter, please');
	});

	it('says a provider account is out of credit (not our cap) and links the keys page', async () => {
		const { container } = await show(
			answer({
				failure: {
					kind: 'quota',
					code: 'upstream_quota',
					message: 'Your OpenAI account is out of credit or quota.',
					resetsAt: null,
					partial: false
				}
			})
		);
		expect(container.querySelector('.failure-title')?.textContent).toBe('Provider account out of credit');
		expect(container.querySelector('.failure a')?.getAttribute('href')).toBe('/keys');
		expect(container.textContent).not.toContain('spending cap');
	});

	it('links the API keys page in a fallback notice', async () => {
		const { container } = await show(
			answer({
				content: 'Hi',
				fallbackNotice: "OpenAI rejected your key, so the app's key answered. Replace it on the API keys page."
			})
		);
		const link = container.querySelector('.fallback a');
		expect(link?.textContent).toBe('API keys page');
		expect(link?.getAttribute('href')).toBe('/keys');
	});

	it('never turns HTML in an answer into elements or script', async () => {
		const content = [
			'Look: <script>window.__pwned = true</script>',
			'<img src="x" onerror="window.__pwned = true">',
			'<a href="javascript:alert(1)">click</a> and [md link](javascript:alert(2))',
			'<iframe src="https://evil.example"></iframe>',
			'![tracker](https://evil.example/pixel.png)'
		].join('\n\n');
		const { container } = await show(answer({ content }));
		const markdown = container.querySelector('.markdown');
		expect(markdown).not.toBeNull();
		expect(container.querySelector('script, img, iframe, [onerror]')).toBeNull();
		for (const link of container.querySelectorAll('a')) {
			expect(link.getAttribute('href') ?? '').not.toMatch(/^javascript:/i);
		}
		// The markup stays visible as text, as the model wrote it.
		expect(markdown?.textContent).toContain('<script>window.__pwned = true</script>');
		expect(markdown?.textContent).toContain('<img src="x" onerror="window.__pwned = true">');
		expect((window as unknown as { __pwned?: boolean }).__pwned).toBeUndefined();
	});

	it('opens links in a new tab without a reference back to the app', async () => {
		const { container } = await show(answer({ content: 'See [the docs](https://example.com/docs).' }));
		const link = container.querySelector('a[href="https://example.com/docs"]');
		expect(link?.getAttribute('target')).toBe('_blank');
		expect(link?.getAttribute('rel')).toContain('noopener');
	});

	it('shows a user message as plain text, not Markdown', async () => {
		const { container } = await show(
			answer({ role: 'user', content: '**not bold** <b>nor this</b>', keySource: null, costMicros: null })
		);
		expect(container.querySelector('strong, b')).toBeNull();
		expect(container.textContent).toContain('**not bold** <b>nor this</b>');
	});

	it('shows the key source, the tokens and the cost in the meta line', async () => {
		const { container } = await show(answer({ content: 'Hi' }));
		const meta = container.querySelector('.meta');
		expect(meta?.textContent).toContain('🔑 Your key');
		expect(meta?.textContent).toContain('GPT-4o mini');
		expect(meta?.textContent).toContain('42 tokens');
		expect(meta?.textContent).toContain('$0.00002');
		expect(meta?.textContent).not.toContain('estimated');
	});

	it('says "App" for the app key and "estimated" when Latchkey counted the tokens', async () => {
		const { container } = await show(
			answer({ content: 'Hi', keySource: 'app', estimated: true, costMicros: 1_234_567 })
		);
		const meta = container.querySelector('.meta');
		expect(meta?.querySelector('.badge')?.textContent).toBe('App');
		expect(meta?.textContent).toContain('estimated');
		expect(meta?.textContent).toContain('$1.23');
	});

	it('shows the fallback notice above the answer', async () => {
		await show(
			answer({
				content: 'Answer',
				keySource: 'app',
				fallbackNotice:
					"OpenAI rejected your key (401), so the app's key answered. Your key is now marked invalid; replace it on the API keys page."
			})
		);
		expect(screen.getByText(/OpenAI rejected your key \(401\), so the app's key answered/)).toBeTruthy();
	});

	it('explains a rate limit with when it resets', async () => {
		const resetsAt = new Date(Date.now() + 30 * 60_000);
		await show(
			answer({
				content: '',
				keySource: null,
				promptTokens: null,
				completionTokens: null,
				costMicros: null,
				failure: {
					kind: 'rate_limit',
					code: 'requests_per_hour',
					message: 'You reached your OpenAI requests-per-hour limit (1). It resets at 15:00 UTC.',
					resetsAt: resetsAt.toISOString(),
					partial: false
				}
			})
		);
		expect(screen.getByText('Rate limit reached')).toBeTruthy();
		expect(screen.getByText(/requests-per-hour limit \(1\)/)).toBeTruthy();
		expect(screen.getByText(/^Resets in/).textContent).toMatch(/^Resets in (29|30) min, at \d\d:\d\d UTC/);
	});

	it('explains a reached spending cap with the amount and when it resets', async () => {
		const resetsAt = new Date(Date.now() + 3 * 3_600_000);
		const { container } = await show(
			answer({
				content: '',
				keySource: null,
				promptTokens: null,
				completionTokens: null,
				costMicros: null,
				failure: {
					kind: 'cap',
					code: 'daily_cap',
					message: "You reached your daily OpenAI spending cap on the app's key ($0.50). It resets at 00:00 UTC.",
					resetsAt: resetsAt.toISOString(),
					partial: false
				}
			})
		);
		expect(screen.getByText('Daily spending cap reached')).toBeTruthy();
		expect(screen.getByText(/spending cap on the app's key \(\$0\.50\)/)).toBeTruthy();
		expect(screen.getByText(/^Resets in/).textContent).toMatch(/^Resets in (2|3) h/);
		expect(container.querySelector('.failure.cap')).not.toBeNull();
		// A cap is not a key problem: no link sending the user to replace a working key.
		expect(screen.queryByRole('link', { name: 'Manage your API keys' })).toBeNull();
	});

	it('links to the keys page when a key is the problem', async () => {
		await show(
			answer({
				keySource: null,
				costMicros: null,
				promptTokens: null,
				completionTokens: null,
				failure: {
					kind: 'key',
					code: 'no_key',
					message: 'You have no OpenAI key, and this server has no app key to fall back to.',
					resetsAt: null,
					partial: false
				}
			})
		);
		expect(screen.getByRole('link', { name: 'Manage your API keys' }).getAttribute('href')).toBe('/keys');
	});

	it('shows a stopped answer from the history as incomplete', async () => {
		const message = messageFromStored({
			id: 'a1',
			role: 'assistant',
			content: 'The first half',
			model: 'openai/gpt-4o-mini',
			provider: 'openai',
			keySource: 'user',
			promptTokens: null,
			completionTokens: null,
			costMicros: null,
			estimated: null,
			errorCode: 'client_aborted',
			errorMessage: 'Stopped.',
			fallbackReason: null,
			parentId: null,
			images: [],
			createdAt: new Date()
		});
		const { container } = await show(message);
		expect(container.textContent).toContain('The first half');
		expect(screen.getByText('Stopped. The answer above is incomplete.')).toBeTruthy();
	});

	it('marks a streaming answer as busy', async () => {
		const { container } = await show(
			answer({ content: '', streaming: true, promptTokens: null, completionTokens: null, costMicros: null })
		);
		expect(container.querySelector('article')?.getAttribute('aria-busy')).toBe('true');
		expect(screen.getByText('Waiting for the answer…')).toBeTruthy();
	});
});
