// Shared by the keys*/vault* integration tests: users, callers and provider-shaped test keys.
import { randomBytes, randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import type { Kysely } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { routableKeysQuery, toRoutableKey, withRoutableKey, type RoutableKey } from '$lib/server/keys';
import { createCaller } from '$lib/server/trpc';
import type { Services } from '$lib/server/services';
import type { Keyring } from '$lib/server/vault';
import type { FakeProviders } from '../fakes/server';
import { recordSecret } from '../helpers/test-output';

export const PROVIDERS: Provider[] = ['openai', 'anthropic', 'google', 'openrouter'];

export interface TestUser {
	id: string;
	email: string;
}

/** A user row without going through password hashing (not what these tests are about). */
export async function createUser(db: Kysely<Database>, name = 'user'): Promise<TestUser> {
	const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
	const row = await db
		.insertInto('users')
		.values({ email, password_hash: '$argon2id$not-used-here' })
		.returning(['id', 'email'])
		.executeTakeFirstOrThrow();
	return row;
}

export function callerFor(services: Services, user: TestUser | null, ip = '203.0.113.7') {
	return createCaller({
		services,
		user: user ? { id: user.id, email: user.email, role: 'user' } : null,
		sessionId: null,
		ip,
		requestId: 'test-request'
	});
}

const alnum = (length: number) =>
	randomBytes(length * 2)
		.toString('base64')
		.replace(/[^A-Za-z0-9]/g, '')
		.slice(0, length);

/**
 * A fresh key in the provider's real shape; `tag` shows up in it (letters and digits only). The
 * whole-suite leak scan looks for every key made here (the tag, a test's label, is not secret).
 */
export function testKey(provider: Provider, tag = 'k'): string {
	const { prefix, randomLength } = KEY_SHAPES[provider];
	// Google keys have a fixed length: the tag takes its place from the random part.
	const key = `${prefix}${tag}${alnum(provider === 'google' ? randomLength - tag.length : randomLength)}`;
	recordSecret(key, `${prefix}${tag}`);
	return key;
}

const KEY_SHAPES: Record<Provider, { prefix: string; randomLength: number }> = {
	openai: { prefix: 'sk-proj-', randomLength: 40 },
	anthropic: { prefix: 'sk-ant-api03-', randomLength: 40 },
	google: { prefix: 'AIza', randomLength: 35 },
	openrouter: { prefix: 'sk-or-v1-', randomLength: 48 }
};

/** The base URL variables pointing every provider at the fakes. */
export function fakeEnv(fake: FakeProviders): Record<string, string> {
	return {
		OPENAI_BASE_URL: fake.baseUrls.openai,
		ANTHROPIC_BASE_URL: fake.baseUrls.anthropic,
		GOOGLE_BASE_URL: fake.baseUrls.google,
		OPENROUTER_BASE_URL: fake.baseUrls.openrouter
	};
}

/** The error a tRPC call failed with (code, message, and the domain's reason). */
export async function trpcFailure(
	promise: Promise<unknown>
): Promise<{ code: string; message: string; reason: string | undefined }> {
	try {
		await promise;
	} catch (error) {
		if (error instanceof TRPCError) {
			const cause = error.cause as { reason?: unknown } | undefined;
			return {
				code: error.code,
				message: error.message,
				reason: typeof cause?.reason === 'string' ? cause.reason : undefined
			};
		}
		throw error;
	}
	throw new Error('expected the call to fail');
}

export async function keyRows(db: Kysely<Database>, userId?: string) {
	let query = db.selectFrom('provider_keys').selectAll();
	if (userId) query = query.where('user_id', '=', userId);
	return query.orderBy('id').execute();
}

/** The user's active key for `provider` as routing reads it, or undefined. */
export async function routableKeyOf(
	db: Kysely<Database>,
	userId: string,
	provider: Provider
): Promise<RoutableKey | undefined> {
	const row = await routableKeysQuery(db, userId).where('provider', '=', provider).executeTakeFirst();
	return row ? toRoutableKey(row) : undefined;
}

/** Opens the user's active key for `provider` the way routing does (read, then unseal for one call). */
export async function withActiveKey<T>(
	db: Kysely<Database>,
	keyring: Keyring,
	user: { userId: string; provider: Provider },
	fn: (apiKey: string, key: RoutableKey) => T | Promise<T>
): Promise<T> {
	const key = await routableKeyOf(db, user.userId, user.provider);
	if (!key) throw new Error(`no active ${user.provider} key`);
	return withRoutableKey(keyring, user.userId, key, (apiKey) => fn(apiKey, key));
}
