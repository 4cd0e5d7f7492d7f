// OpenRouter's OAuth PKCE flow, as the fake OpenRouter speaks it: `GET /openrouter/auth` is the
// consent page (a link back to `callback_url?code=`), `POST /openrouter/api/v1/auth/keys` trades
// the code and its verifier for a new key, registered as a working key.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from './http';

interface Grant {
	challenge: string;
	method: string;
}

const grants = new Map<string, Grant>();

function json(res: ServerResponse, status: number, body: unknown): void {
	res.writeHead(status, { 'content-type': 'application/json' });
	res.end(JSON.stringify(body));
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Answers the OAuth paths; false for any other path. */
export async function serveOpenRouterOAuth(
	registerKey: (key: string) => void,
	req: IncomingMessage,
	res: ServerResponse,
	url: URL
): Promise<boolean> {
	if (req.method === 'GET' && url.pathname === '/openrouter/auth') {
		const callback = url.searchParams.get('callback_url') ?? '';
		const challenge = url.searchParams.get('code_challenge') ?? '';
		const method = url.searchParams.get('code_challenge_method') ?? 'plain';
		if (!/^https?:\/\//.test(callback) || !challenge) {
			res.writeHead(400, { 'content-type': 'text/plain' });
			res.end('callback_url and code_challenge are required');
			return true;
		}
		const code = randomBytes(16).toString('hex');
		grants.set(code, { challenge, method });
		const back = new URL(callback);
		back.searchParams.set('code', code);
		res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
		res.end(
			`<!doctype html><title>Authorize · fake OpenRouter</title><h1>Authorize this app?</h1>` +
				`<a id="authorize" href="${escape(back.toString())}">Authorize</a> ` +
				`<a id="cancel" href="${escape(callback)}">Cancel</a>`
		);
		return true;
	}
	if (req.method === 'POST' && url.pathname === '/openrouter/api/v1/auth/keys') {
		const body = (await readBody(req)
			.then((text) => JSON.parse(text) as unknown)
			.catch(() => null)) as Record<string, unknown> | null;
		const grant = typeof body?.code === 'string' ? grants.get(body.code) : undefined;
		if (!grant || typeof body?.code_verifier !== 'string') {
			json(res, 400, { error: { code: 400, message: 'Invalid code' } });
			return true;
		}
		grants.delete(body.code as string);
		const expected =
			grant.method === 'S256'
				? createHash('sha256').update(body.code_verifier).digest('base64url')
				: body.code_verifier;
		if (expected !== grant.challenge) {
			json(res, 403, { error: { code: 403, message: 'Invalid code_verifier' } });
			return true;
		}
		const key = `sk-or-v1-${randomBytes(32).toString('hex')}`;
		registerKey(key);
		json(res, 200, { key, user_id: 'user_fake_oauth' });
		return true;
	}
	return false;
}
