import { createTRPCProxyClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '$lib/server/trpc';
import { recordSecret } from './test-output';

const ACCESS_TOKEN = /lk_[A-Za-z0-9]{8}_[A-Za-z0-9]{43}/g;

/**
 * A browser-like HTTP client for tests: keeps cookies, sends the Origin header a same-site page
 * would, and exposes the typed tRPC client over real HTTP.
 */
export class TestClient {
	private cookies = new Map<string, string>();

	cookieHeader(): string {
		return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
	}

	cookie(name: string): string | undefined {
		return this.cookies.get(name);
	}

	fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
		const url = typeof input === 'string' && input.startsWith('/') ? `${this.baseUrl}${input}` : input;
		const headers = new Headers(init.headers);
		if (this.cookies.size > 0 && !headers.has('cookie')) headers.set('cookie', this.cookieHeader());
		if (!headers.has('origin')) headers.set('origin', this.baseUrl);
		const response = await fetch(url, { ...init, headers, redirect: init.redirect ?? 'manual' });
		for (const line of response.headers.getSetCookie()) {
			const [pair = '', ...attributes] = line.split(';');
			const [name = '', value = ''] = pair.split('=');
			const expired = value === '' || attributes.some((a) => /max-age=0/i.test(a.trim()));
			if (expired) this.cookies.delete(name.trim());
			else this.cookies.set(name.trim(), value.trim());
		}
		if (String(url).includes('/api/trpc/tokens.create') && response.ok) {
			// The token is shown once: the whole-suite leak scan must know it.
			for (const [token] of (await response.clone().text()).matchAll(ACCESS_TOKEN)) recordSecret(token);
		}
		return response;
	};

	readonly trpc: ReturnType<typeof createTRPCProxyClient<AppRouter>>;

	constructor(readonly baseUrl: string) {
		this.trpc = createTRPCProxyClient<AppRouter>({
			transformer: superjson,
			links: [
				httpLink({ url: `${baseUrl}/api/trpc`, fetch: (url, init) => this.fetch(String(url), init as RequestInit) })
			]
		});
	}
}

/**
 * `bytes` as a request body of 64 KiB chunks with no declared length (chunked transfer encoding),
 * for `fetch(url, { method, body: chunkedBody(bytes), duplex: 'half' })`.
 */
export function chunkedBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
	return new ReadableStream<Uint8Array>({
		start(controller) {
			for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.slice(at, at + 64 * 1024));
			controller.close();
		}
	});
}
