/**
 * Token counts with OpenAI's o200k_base encoding (GPT-4o and later): exact for OpenAI models and a
 * close estimate for the others. Used to reserve a prompt's cost before a call and to estimate
 * usage when a provider reported none. Importing only this encoding loads one table.
 *
 * The table costs ~65 MB of memory and ~250 ms to load, so it is loaded on the first chat
 * (`loadTokenizer`), not at start-up: an instance that only serves pages, admin or exports
 * never pays for it.
 *
 * Counting runs on the request path, so its cost is bounded (bench/tokenizer.ts measures it).
 * gpt-tokenizer's BPE is quadratic in the length of a pre-tokenizer piece (100,000 repeated
 * letters took 9 s) and slow on pieces it has not seen (100,000 characters of random words:
 * 0.1 to 0.7 s). So long pieces are counted in 64-character chunks, a prompt is counted in slices
 * of 2 ms with the event loop free in between, and once a count has used its time budget the rest
 * is bounded by its UTF-8 length: every token is at least one byte, so the result never falls
 * short of what a reservation needs (it may refuse, as too long for the model, a conversation that
 * would just fit). The first EXACT_FLOOR_CHARS are always counted exactly, and ordinary text of
 * any allowed size is counted exactly well within the budget.
 */
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

type Encoding = typeof import('gpt-tokenizer/encoding/o200k_base');

let encoding: Encoding | undefined;
let loading: Promise<void> | undefined;

export function loadTokenizer(): Promise<void> {
	loading ??= import('gpt-tokenizer/encoding/o200k_base').then((module) => {
		encoding = module;
	});
	return loading;
}

function encoder(): Encoding {
	if (!encoding) throw new Error('The tokenizer is not loaded yet: await loadTokenizer() first.');
	return encoding;
}

/** OpenAI's documented chat overhead: every message is wrapped in ~3 tokens, every reply primed with 3. */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY = 3;

// User text such as "<|endoftext|>" is counted as plain text, never refused as a special token.
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Counting time a prompt may use (in slices of SLICE_MS) before the rest is bounded by its size. */
export const PROMPT_BUDGET_MS = 250;
/** The same for one text counted at once (an answer's estimate), which holds the event loop. */
const TEXT_BUDGET_MS = 50;
/** Counted exactly whatever the clock says, so a short text's count never depends on load. */
export const EXACT_FLOOR_CHARS = 20_000;
const SLICE_MS = 2;
// Text is counted in segments of about SEGMENT_CHARS, cut where a piece starts; a piece longer than
// MAX_PIECE_CHARS is counted in chunks of that size (within ~2% of its exact count, measured).
const SEGMENT_CHARS = 1024;
const MAX_PIECE_CHARS = 64;

/** What a count has done, and whether its time is up. */
interface Budget {
	exactChars: number;
	outOfTime: () => boolean;
}

const isSpent = (budget: Budget) => budget.exactChars >= EXACT_FLOOR_CHARS && budget.outOfTime();

export function countTextTokens(text: string): number {
	const deadline = performance.now() + TEXT_BUDGET_MS;
	const steps = countingSteps(text, { exactChars: 0, outOfTime: () => performance.now() > deadline });
	for (;;) {
		const step = steps.next();
		if (step.done) return step.value;
	}
}

/**
 * The prompt's tokens plus OpenAI's per-message overhead. Asynchronous: it pauses every SLICE_MS
 * so other requests are served meanwhile, and the whole prompt shares one budget.
 */
export async function countPromptTokens(messages: readonly { role: string; content: string }[]): Promise<number> {
	let spentMs = 0;
	let sliceStart = performance.now();
	const budget: Budget = {
		exactChars: 0,
		outOfTime: () => spentMs + performance.now() - sliceStart > PROMPT_BUDGET_MS
	};
	let total = TOKENS_PER_REPLY;
	for (const message of messages) {
		total += TOKENS_PER_MESSAGE;
		for (const text of [message.role, message.content]) {
			const steps = countingSteps(text, budget);
			for (let step = steps.next(); ; step = steps.next()) {
				if (step.done) {
					total += step.value;
					break;
				}
				if (performance.now() - sliceStart > SLICE_MS) {
					spentMs += performance.now() - sliceStart;
					await new Promise((resolve) => setImmediate(resolve));
					sliceStart = performance.now();
				}
			}
		}
	}
	return total;
}

/**
 * Counts `text` a bounded step at a time (yielding after each) and returns the count: exact until
 * the budget is spent, then the UTF-8 length of whatever is left.
 *
 * The tokenizer splits text into pieces before BPE, and a space that follows a non-space always
 * starts a piece; so the text is cut there into segments counted on their own, with the same
 * result. Only a stretch of more than MAX_PIECE_CHARS without such a space can hold a piece long
 * enough to make BPE slow; it is split with the tokenizer's own pattern and long pieces are
 * counted in chunks. Ordinary prose never takes that path, and pays no second pass.
 */
function* countingSteps(text: string, budget: Budget): Generator<void, number> {
	let total = 0;
	let counted = 0; // the text before this index is counted
	const countTo = (end: number) => {
		if (end > counted) total += encoder().countTokens(text.slice(counted, end), AS_PLAIN_TEXT);
		budget.exactChars += end - counted;
		counted = end;
	};
	function* countStretch(end: number): Generator<void> {
		const offset = counted;
		for (const { 0: piece, index } of text.slice(offset, end).matchAll(O200K_TOKEN_SPLIT_REGEX)) {
			const pieceStart = offset + index;
			const pieceEnd = pieceStart + piece.length;
			if (piece.length > MAX_PIECE_CHARS) {
				if (isSpent(budget)) return;
				countTo(pieceStart);
				while (counted < pieceEnd) {
					if (isSpent(budget)) return;
					countTo(chunkEnd(text, counted, pieceEnd));
					yield;
				}
			} else if (pieceEnd - counted >= SEGMENT_CHARS) {
				if (isSpent(budget)) return;
				countTo(pieceEnd);
				yield;
			}
		}
		if (!isSpent(budget)) countTo(end);
	}
	for (let start = 0; start < text.length;) {
		const end = nextSpaceAfterText(text, start);
		if (end - start > MAX_PIECE_CHARS) {
			if (isSpent(budget)) break;
			countTo(start);
			yield* countStretch(end);
			if (counted < end) break;
		} else if (end - counted >= SEGMENT_CHARS) {
			if (isSpent(budget)) break;
			countTo(end);
			yield;
		}
		start = end;
	}
	if (counted < text.length && !isSpent(budget)) countTo(text.length);
	return total + Buffer.byteLength(text.slice(counted), 'utf8');
}

/** The first index after `from` of a space that follows a non-space (a piece starts there), or the end. */
function nextSpaceAfterText(text: string, from: number): number {
	for (let at = text.indexOf(' ', from + 1); at !== -1; at = text.indexOf(' ', at + 1)) {
		const before = text.charCodeAt(at - 1);
		const isSpace = before < 128 ? before === 32 || (before >= 9 && before <= 13) : /\s/.test(text[at - 1]!);
		if (!isSpace) return at;
	}
	return text.length;
}

/** Where a chunk starting at `start` ends: MAX_PIECE_CHARS on, never inside a surrogate pair. */
function chunkEnd(text: string, start: number, limit: number): number {
	const end = Math.min(start + MAX_PIECE_CHARS, limit);
	const last = text.charCodeAt(end - 1);
	return end < limit && last >= 0xd800 && last <= 0xdbff ? end - 1 : end;
}
