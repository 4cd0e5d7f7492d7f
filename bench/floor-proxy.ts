/**
 * The floor of any app between a client and the provider, for bench/overhead.ts: a bare
 * `node:http` server (its own process, like the app) that makes FLOOR_QUERIES trivial PostgreSQL
 * round trips (`SELECT 1`, one after another, on a pool like the app's), then forwards the
 * request body and Authorization header to the fake provider with `fetch` and pipes the answer
 * back unchanged. No authentication, no parsing, no re-encoding: whatever the app adds beyond
 * this row is Latchkey's own cost; what this row adds over "direct" is the price of one more
 * process and HTTP hop (and of the round trips) on the machine.
 *
 *   FLOOR_UPSTREAM=http://127.0.0.1:PORT/openai/v1 FLOOR_QUERIES=1 DATABASE_URL=... node --import tsx bench/floor-proxy.ts
 *
 * Prints `{"url": ...}` on its first line when it listens.
 */
import { Agent, createServer, request } from 'node:http';
import { Readable } from 'node:stream';
import OpenAI from 'openai';
import pg from 'pg';

const upstream = process.env.FLOOR_UPSTREAM ?? '';
const queries = Number(process.env.FLOOR_QUERIES ?? '0');
/**
 * `fetch` (undici, what the provider SDKs use) and pipe the bytes back; `http` (node:http with a
 * keep-alive agent) and pipe; or `sdk`: the official `openai` SDK streams the answer (a client per
 * request, as the app makes one per call) and each chunk is re-encoded as an SSE event, which is
 * the least a proxy over the SDK the issue names can do.
 */
const client = process.env.FLOOR_CLIENT ?? 'fetch';
const agent = new Agent({ keepAlive: true });
const pool = queries > 0 ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 }) : undefined;

const server = createServer(async (req, res) => {
	try {
		const chunks: Buffer[] = [];
		for await (const chunk of req) chunks.push(chunk as Buffer);
		for (let i = 0; i < queries; i++) await pool!.query('SELECT 1');
		if (client === 'sdk') {
			const sdk = new OpenAI({
				apiKey: (req.headers.authorization ?? '').replace(/^Bearer /, ''),
				baseURL: upstream,
				maxRetries: 0,
				logLevel: 'off'
			});
			const body = JSON.parse(String(Buffer.concat(chunks))) as OpenAI.ChatCompletionCreateParamsStreaming;
			const stream = await sdk.chat.completions.create({ ...body, stream: true });
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			for await (const chunk of stream) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
			res.end('data: [DONE]\n\n');
			return;
		}
		if (client === 'http') {
			const forward = request(`${upstream}${req.url?.replace(/^\/v1/, '')}`, {
				method: 'POST',
				agent,
				headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' }
			});
			forward.on('response', (answer) => {
				res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'text/plain' });
				answer.pipe(res);
			});
			forward.on('error', (error) => res.writeHead(502).end(String(error)));
			forward.end(Buffer.concat(chunks));
			return;
		}
		const answer = await fetch(`${upstream}${req.url?.replace(/^\/v1/, '')}`, {
			method: 'POST',
			headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
			body: Buffer.concat(chunks)
		});
		res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
		if (answer.body) Readable.fromWeb(answer.body as never).pipe(res);
		else res.end();
	} catch (error) {
		res.writeHead(502).end(String(error));
	}
});
server.listen(0, '127.0.0.1', () => {
	const address = server.address();
	const port = typeof address === 'object' && address ? address.port : 0;
	console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
});
process.on('SIGTERM', () => {
	server.close();
	server.closeAllConnections();
	void pool?.end();
});
