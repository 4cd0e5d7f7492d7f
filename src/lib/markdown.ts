import { Marked, type Tokens } from 'marked';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/common';

/**
 * Model answers as Markdown, rendered for the browser only. Two layers, because an answer is
 * text the model was free to shape (and a prompt injection can shape it): raw HTML in the
 * Markdown is shown as text, never parsed, and the resulting HTML goes through DOMPurify anyway.
 * DOMPurify needs a DOM, so on the server (SSR) `renderMarkdown` returns the escaped plain text.
 */

export function escapeHtml(text: string): string {
	return text
		.replace(/&/g, '&amp;')
		.replace(/</g, '&lt;')
		.replace(/>/g, '&gt;')
		.replace(/"/g, '&quot;')
		.replace(/'/g, '&#39;');
}

const markdown = new Marked({
	gfm: true,
	breaks: true,
	async: false,
	renderer: {
		// `<b>`, `<script>`, `<img onerror>` written by the model are text, as they are in a code block.
		html: ({ text }: Tokens.HTML | Tokens.Tag) => escapeHtml(text),
		// Remote images would be tracking pixels (and CSP blocks them anyway): show a link instead.
		image: ({ href, text }: Tokens.Image) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
		code: ({ text, lang }: Tokens.Code) => {
			const language = languageOf(lang);
			const classes = language ? `hljs language-${escapeHtml(language)}` : 'hljs';
			return `<pre><code class="${classes}">${highlightCode(text, language)}\n</code></pre>\n`;
		}
	}
});

/**
 * Code in a fenced block, highlighted by highlight.js when the fence names a language it knows
 * (its output escapes the code; the sanitizer still runs over it). Unnamed code is not guessed:
 * guessing runs every grammar over every repaint of a streaming answer.
 */
export function highlightCode(code: string, language: string | undefined): string {
	if (language && hljs.getLanguage(language)) {
		return hljs.highlight(code, { language, ignoreIllegals: true }).value;
	}
	return escapeHtml(code);
}

/** The fence's language name ("```ts title=x" → "ts"), if it has one. */
const languageOf = (lang: string | undefined) => lang?.trim().split(/\s+/)[0]?.toLowerCase() || undefined;

let purifier: ReturnType<typeof DOMPurify> | undefined;

function getPurifier(): ReturnType<typeof DOMPurify> | undefined {
	if (purifier) return purifier;
	if (typeof window === 'undefined') return undefined;
	const instance = DOMPurify(window);
	if (!instance.isSupported) return undefined;
	// Links leave the app in a new tab without handing it a reference back to this page.
	instance.addHook('afterSanitizeAttributes', (node) => {
		if (node.tagName === 'A' && node.hasAttribute('href')) {
			node.setAttribute('target', '_blank');
			node.setAttribute('rel', 'noopener noreferrer nofollow');
		}
	});
	purifier = instance;
	return purifier;
}

const SANITIZE = {
	USE_PROFILES: { html: true },
	FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'video', 'audio'],
	FORBID_ATTR: ['style'],
	ADD_ATTR: ['target']
};

/** Whether `renderMarkdown` produces HTML here (a browser), or only escaped text (the server). */
export function canRenderMarkdown(): boolean {
	return getPurifier() !== undefined;
}

/**
 * Sanitized HTML for `{@html}`. Without a DOM (SSR) it returns the text escaped, in a paragraph,
 * so the page shows the answer before hydration without ever trusting it.
 */
export function renderMarkdown(text: string): string {
	const sanitizer = getPurifier();
	if (!sanitizer) return `<p>${escapeHtml(text)}</p>`;
	const html = markdown.parse(text, { async: false });
	return sanitizer.sanitize(html, SANITIZE);
}
