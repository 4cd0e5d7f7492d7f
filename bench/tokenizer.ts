// How long counting a ~4,000-token prompt takes with the catalog tokenizer (gpt-tokenizer,
// o200k_base). It runs on the request path (spending-cap reservation), so it must stay cheap.
// Then the hostile case (issue 17): 100,000-character messages the BPE is slow on, with the
// count, how long it took and the longest time the event loop was held meanwhile.
//
// Repeat with: npx tsx bench/tokenizer.ts
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';

const WORDS = (
	'the of and to in is you that it he was for on are as with his they at be this have from or one had by ' +
	'word but not what all were we when your can said there use an each which she do how their if will up ' +
	'other about out many then them these so some her would make like him into time has look two more write ' +
	'latchkey provider stream token reservation settlement fallback encryption rotation 2026 42 3.14 ' +
	'función naïve café über straße 東京 データ 😀 {"json": [1, 2, 3]} <div class="x"></div> snake_case camelCase'
).split(' ');

/** A deterministic pseudo-random prompt, different for every seed so no cache can help. */
function promptOf(seed: number, words: number): string {
	let state = seed * 2654435761;
	const out: string[] = [];
	for (let i = 0; i < words; i += 1) {
		state = (state * 1103515245 + 12345) % 2147483648;
		out.push(WORDS[state % WORDS.length] ?? 'x');
	}
	return out.join(' ');
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

const importStart = performance.now();
const { countPromptTokens, countTextTokens, loadTokenizer } = await import('../src/lib/server/catalog/tokenizer');
await loadTokenizer();
const importMs = performance.now() - importStart;
// The same module instance the tokenizer uses: lets the cold-cache run start from nothing.
const { clearMergeCache } = await import('gpt-tokenizer/encoding/o200k_base');

// Size the prompt to about 4,000 tokens (a system prompt plus a user message).
let words = 3000;
while (countTextTokens(promptOf(0, words)) < 3950) words += 100;
const messagesFor = (seed: number) => [
	{ role: 'system', content: 'You are a helpful assistant. Answer briefly.' },
	{ role: 'user', content: promptOf(seed, words) }
];

const firstStart = performance.now();
const tokens = await countPromptTokens(messagesFor(1));
const firstMs = performance.now() - firstStart;

const RUNS = 200;
const timings: number[] = [];
for (let seed = 2; seed < RUNS + 2; seed += 1) {
	const messages = messagesFor(seed);
	const start = performance.now();
	await countPromptTokens(messages);
	timings.push(performance.now() - start);
}

// Worst case: the BPE merge cache emptied before every count.
const coldTimings: number[] = [];
for (let seed = 1000; seed < 1000 + RUNS / 4; seed += 1) {
	const messages = messagesFor(seed);
	clearMergeCache();
	const start = performance.now();
	await countPromptTokens(messages);
	coldTimings.push(performance.now() - start);
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`countPromptTokens on a ${tokens}-token prompt (2 messages, ${words} mixed-script words), o200k_base`);
console.log(`  on Node ${process.version}, ${cpu} (${cpus().length} cores)`);
console.log(`  loading the o200k_base table (first import): ${importMs.toFixed(1)} ms`);
console.log(`  first count after load:                      ${firstMs.toFixed(2)} ms`);
console.log(
	`  ${RUNS} fresh prompts: median ${median(timings).toFixed(2)} ms, p95 ${percentile(timings, 95).toFixed(2)} ms, max ${Math.max(...timings).toFixed(2)} ms`
);
console.log(
	`  ${RUNS / 4} with the merge cache cleared first: median ${median(coldTimings).toFixed(2)} ms, max ${Math.max(...coldTimings).toFixed(2)} ms`
);

/** Random lower-case letters, in words of `wordLength` (0: one run without spaces). */
function gibberish(length: number, wordLength = 0): string {
	let state = 7;
	let out = '';
	while (out.length < length) {
		state = (state * 1103515245 + 12345) % 2147483648;
		out += wordLength && out.length % (wordLength + 1) === wordLength ? ' ' : String.fromCharCode(97 + (state % 26));
	}
	return out;
}

const HOSTILE: Array<[string, string]> = [
	["'k' × 100,000", 'k'.repeat(100_000)],
	["'cd' × 50,000", 'cd'.repeat(50_000)],
	['100,000 random letters', gibberish(100_000)],
	['random 5-letter words', gibberish(100_000, 5)],
	['100,000 spaces', ' '.repeat(100_000)],
	["'東京' × 50,000", '東京'.repeat(50_000)]
];
console.log('one 100,000-character user message each (countPromptTokens, merge cache cleared first):');
for (const [name, content] of HOSTILE) {
	clearMergeCache();
	// The longest stretch without a turn of the event loop, seen by a timer asking every millisecond.
	let longestHoldMs = 0;
	let last = performance.now();
	const probe = setInterval(() => {
		const now = performance.now();
		longestHoldMs = Math.max(longestHoldMs, now - last);
		last = now;
	}, 1);
	const start = performance.now();
	const counted = await countPromptTokens([{ role: 'user', content }]);
	const ms = performance.now() - start;
	await new Promise((resolve) => setTimeout(resolve, 5));
	clearInterval(probe);
	longestHoldMs = Math.max(longestHoldMs, performance.now() - last);
	console.log(
		`  ${name.padEnd(24)} ${String(counted).padStart(7)} tokens (${Buffer.byteLength(content)} bytes) in ${ms.toFixed(1).padStart(8)} ms, event loop held at most ${longestHoldMs.toFixed(1)} ms`
	);
}
console.log('  repeat: npx tsx bench/tokenizer.ts');
