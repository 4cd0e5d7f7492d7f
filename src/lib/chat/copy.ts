/** Copying from the chat: a message, or one code block of an answer. */

/** Puts text on the clipboard; false when the browser refuses (no permission, not a secure page). */
export async function copyText(text: string): Promise<boolean> {
	try {
		await navigator.clipboard.writeText(text);
		return true;
	} catch {
		return false;
	}
}

/**
 * A Svelte action for rendered Markdown: a "Copy code" button on each code block. The buttons are
 * added after sanitizing (the sanitizer forbids buttons in model output) and again as the answer grows.
 */
export function codeCopyButtons(node: HTMLElement) {
	const add = () => {
		for (const pre of node.querySelectorAll('pre')) {
			if (pre.querySelector(':scope > button.copy-code')) continue;
			const button = document.createElement('button');
			button.type = 'button';
			button.className = 'copy-code secondary';
			button.textContent = 'Copy code';
			button.addEventListener('click', async () => {
				const code = pre.querySelector('code')?.textContent ?? '';
				const copied = await copyText(code);
				button.textContent = copied ? 'Copied' : 'Copy failed';
				setTimeout(() => (button.textContent = 'Copy code'), 1500);
			});
			pre.prepend(button);
		}
	};
	add();
	const observer = new MutationObserver(add);
	observer.observe(node, { childList: true, subtree: true });
	return { destroy: () => observer.disconnect() };
}

/** A notice that mentions the API keys page, split so the page can link those words. */
export function linkKeysPage(text: string): { before: string; link: string | null; after: string } {
	const at = text.indexOf('API keys page');
	if (at < 0) return { before: text, link: null, after: '' };
	return { before: text.slice(0, at), link: 'API keys page', after: text.slice(at + 'API keys page'.length) };
}
