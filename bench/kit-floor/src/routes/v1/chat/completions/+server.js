import OpenAI from 'openai';
import pg from 'pg';

/**
 * The least a SvelteKit endpoint over the official `openai` SDK can do for a streamed chat: FLOOR_QUERIES
 * trivial PostgreSQL round trips (`SELECT 1`), then the SDK streams the answer from FLOOR_UPSTREAM (a
 * client per request, as the app makes one per call) and each chunk is re-encoded as an SSE event
 * into a web-stream Response, as the app's endpoints answer. No hooks, no authentication, no limits.
 * FLOOR_RELAY=bytes: the SDK only opens the call (`.asResponse()`) and the body passes as bytes,
 * the least any endpoint on this stack can do.
 */
const queries = Number(process.env.FLOOR_QUERIES ?? '0');
const pool = queries > 0 ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 }) : undefined;
const encoder = new TextEncoder();

/** @type {import('./$types').RequestHandler} */
export async function POST({ request }) {
	const body = await request.json();
	for (let i = 0; i < queries; i++) await pool?.query('SELECT 1');
	const sdk = new OpenAI({
		apiKey: (request.headers.get('authorization') ?? '').replace(/^Bearer /, ''),
		baseURL: process.env.FLOOR_UPSTREAM,
		maxRetries: 0,
		logLevel: 'off'
	});
	if (process.env.FLOOR_RELAY === 'bytes') {
		const upstream = await sdk.chat.completions.create({ ...body, stream: true }).asResponse();
		return new Response(upstream.body, { headers: { 'content-type': 'text/event-stream' } });
	}
	const stream = await sdk.chat.completions.create({ ...body, stream: true });
	const iterator = stream[Symbol.asyncIterator]();
	return new Response(
		new ReadableStream({
			async pull(controller) {
				const { value, done } = await iterator.next();
				if (done) {
					controller.enqueue(encoder.encode('data: [DONE]\n\n'));
					controller.close();
				} else controller.enqueue(encoder.encode(`data: ${JSON.stringify(value)}\n\n`));
			},
			cancel: () => stream.controller.abort()
		}),
		{ headers: { 'content-type': 'text/event-stream' } }
	);
}
