import { z } from 'zod';
import { Lexer, type Token } from 'marked';
import { oneLineName, toOneLineName } from '$lib/server/validation';
import { MAX_TITLE_CHARS } from './store';

const uuid = z.string().uuid({ message: 'Unknown conversation.' });

export const renameInput = z
	.object({
		id: uuid,
		title: z
			.string()
			.transform((t) => t.trim().replace(/\s+/g, ' '))
			.pipe(
				oneLineName(
					z
						.string()
						.min(1, 'Give the conversation a title.')
						.max(MAX_TITLE_CHARS, `Titles can be at most ${MAX_TITLE_CHARS} characters.`),
					'Titles'
				)
			)
	})
	.strict();

/** The words of Markdown without its marks (`**bold**`, `# heading`, `[link](url)` → bold, heading, link). */
function plainText(tokens: Token[]): string {
	let text = '';
	for (const token of tokens) {
		if ('tokens' in token && Array.isArray(token.tokens) && token.tokens.length > 0) text += plainText(token.tokens);
		else if (token.type === 'list') text += plainText(token.items as Token[]);
		else if ('text' in token && typeof token.text === 'string') text += token.text;
		else if (token.type === 'space') text += ' ';
	}
	return text;
}

/** A title from the first message: its first line of words without Markdown, shortened at a word boundary. */
export function titleFrom(text: string): string {
	// Each block (paragraph, heading, code) on its own line; only the start of a long message matters.
	const blocks = Lexer.lex(text.slice(0, 2000), { gfm: true }).map((token) => plainText([token]).trim());
	const firstLine = blocks.flatMap((block) => block.split('\n')).find((l) => l.trim() !== '') ?? '';
	const line = toOneLineName(firstLine.replace(/\s+/g, ' ')).trim();
	if (line.length <= 60) return line || 'New chat';
	const cut = line.slice(0, 60);
	const space = cut.lastIndexOf(' ');
	return `${(space > 30 ? cut.slice(0, space) : cut).trim()}…`;
}
