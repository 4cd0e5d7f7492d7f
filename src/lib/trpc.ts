import { createTRPCClient, type TRPCClientInit } from 'trpc-sveltekit';
import superjson from 'superjson';
import type { AppRouter } from '$lib/server/trpc';

let browserClient: ReturnType<typeof createTRPCClient<AppRouter>> | undefined;

/** The typed tRPC client; in the browser one instance is shared, in load functions pass `init`. */
export function trpc(init?: TRPCClientInit) {
	const isBrowser = typeof window !== 'undefined';
	if (isBrowser && browserClient) return browserClient;
	const client = createTRPCClient<AppRouter>({ url: '/api/trpc', init, transformer: superjson });
	if (isBrowser) browserClient = client;
	return client;
}
