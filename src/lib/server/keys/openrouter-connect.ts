import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '$lib/server/config';
import { AppError } from '$lib/server/errors';
import { upsertKey, type UpsertedKey } from './store';
import type { KeyActor, KeyManagerDeps } from './metadata';

/**
 * "Connect OpenRouter": OpenRouter's OAuth PKCE flow. The browser goes to OpenRouter's `/auth`
 * with a challenge; OpenRouter sends it back with a one-time code, which only the holder of the
 * verifier (a short-lived cookie of this browser) can exchange for a key at `POST /auth/keys`.
 * The key is then checked and sealed like any key the person pastes.
 */

export const CONNECT_TIMEOUT_MS = 10_000;
export const VERIFIER_COOKIE = 'latchkey_openrouter_verifier';
export const CONNECT_LABEL = 'Connected with OpenRouter';

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/** OpenRouter's authorization page, beside its API (`…/api/v1` → `…/auth`). */
export function openRouterAuthPage(config: Config): string {
	return `${config.baseUrls.openrouter.replace(/\/api\/v1\/?$/, '')}/auth`;
}

/** Where to send the browser, and the verifier to keep in its cookie until it comes back. */
export function startOpenRouterConnect(config: Config, callbackUrl: string): { redirectUrl: string; verifier: string } {
	const verifier = base64url(randomBytes(32));
	const challenge = base64url(createHash('sha256').update(verifier).digest());
	const url = new URL(openRouterAuthPage(config));
	url.searchParams.set('callback_url', callbackUrl);
	url.searchParams.set('code_challenge', challenge);
	url.searchParams.set('code_challenge_method', 'S256');
	return { redirectUrl: url.toString(), verifier };
}

const exchanged = z.object({ key: z.string().min(1).max(300) });
const codeSchema = z.string().regex(/^[A-Za-z0-9._~-]{1,512}$/);

const failed = (message: string, reason: string) => new AppError('bad_request', message, { reason });

/** Exchanges the code for a key and stores it as the person's OpenRouter key. */
export async function finishOpenRouterConnect(
	deps: KeyManagerDeps,
	actor: KeyActor,
	input: { code: string | null; verifier: string | undefined }
): Promise<UpsertedKey> {
	if (!input.verifier) {
		throw failed(
			'The connection was not started in this browser, or took longer than 10 minutes. Start it again.',
			'connect_expired'
		);
	}
	const code = codeSchema.safeParse(input.code);
	if (!code.success)
		throw failed('OpenRouter sent no authorization code. Start the connection again.', 'connect_denied');
	let response: Response;
	try {
		response = await fetch(`${deps.config.baseUrls.openrouter}/auth/keys`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ code: code.data, code_verifier: input.verifier, code_challenge_method: 'S256' }),
			signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS)
		});
	} catch {
		throw new AppError('upstream_error', 'OpenRouter did not answer. Try connecting again in a moment.', {
			reason: 'connect_unreachable'
		});
	}
	const body: unknown = await response.json().catch(() => null);
	const parsed = exchanged.safeParse(body);
	if (!response.ok || !parsed.success) {
		// Only the status: OpenRouter's words could echo what we sent.
		throw failed(
			`OpenRouter refused the authorization (HTTP ${response.status}). Start the connection again.`,
			'connect_refused'
		);
	}
	return upsertKey(deps, actor, { provider: 'openrouter', apiKey: parsed.data.key, label: CONNECT_LABEL });
}
