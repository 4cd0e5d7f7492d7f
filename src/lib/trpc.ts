import { TRPCClientError } from '@trpc/client';
import { createTRPCClient, type TRPCClientInit } from 'trpc-sveltekit';
import superjson from 'superjson';
import { invalidateAll } from '$app/navigation';
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

/** A refused call as a form shows it: the server's sentence, and the input field it is about. */
export interface Failure {
	message: string;
	field: string | null;
}

export type Outcome<T> = { ok: true; value: T } | ({ ok: false } & Failure);

export function failureOf(error: unknown): Failure {
	// Every answer of our server carries `data` (see trpc/trpc.ts); without it the call never got an answer.
	if (error instanceof TRPCClientError && error.data) {
		const field: unknown = error.data.details?.field;
		return { message: error.message, field: typeof field === 'string' && field !== '' ? field : null };
	}
	return { message: 'Latchkey could not be reached. Check your connection and try again.', field: null };
}

/** Runs a mutation from the UI; after a success the page's data loads again, as after a form action. */
export async function mutation<T>(call: () => Promise<T>): Promise<Outcome<T>> {
	let value: T;
	try {
		value = await call();
	} catch (error) {
		if (!(error instanceof TRPCClientError)) throw error;
		return { ok: false, ...failureOf(error) };
	}
	await invalidateAll();
	return { ok: true, value };
}
