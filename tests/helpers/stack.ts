import { randomBytes } from 'node:crypto';
import { startFakeProviders, type Behaviour, type BehaviourSpec, type FakeProviders } from '../fakes/server';
import type { Account } from './admins';
import { startApp, type AppServer } from './app-server';
import { createEmptyPostgresDatabase } from './db';
import { testDatabaseUrl } from './env';

/**
 * What most end-to-end tests stand on: the fake providers, the built server pointed at them with
 * an app OpenRouter key the fakes accept, on its own PostgreSQL database (or embedded PGlite
 * without TEST_DATABASE_URL).
 */
export interface Stack {
	app: AppServer;
	fake: FakeProviders;
	/** The app's own OpenRouter key (OPENROUTER_API_KEY), registered with the fakes. */
	appKey: string;
	databaseUrl: string | undefined;
	stop(): Promise<void>;
}

export interface StackOptions {
	env?: Record<string, string>;
	appKeyBehaviour?: Behaviour | BehaviourSpec;
	/** Accounts made admins before the server starts; they sign in, not up. */
	admins?: readonly Account[];
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
	const fake = await startFakeProviders();
	const appKey = `sk-or-v1-appkey${randomBytes(24).toString('hex')}`;
	fake.registerKey('openrouter', appKey, options.appKeyBehaviour ?? 'ok');
	const database = testDatabaseUrl ? await createEmptyPostgresDatabase() : undefined;
	const env: Record<string, string> = {
		OPENAI_BASE_URL: fake.baseUrls.openai,
		ANTHROPIC_BASE_URL: fake.baseUrls.anthropic,
		GOOGLE_BASE_URL: fake.baseUrls.google,
		OPENROUTER_BASE_URL: fake.baseUrls.openrouter,
		OPENROUTER_API_KEY: appKey,
		...options.env
	};
	let app: AppServer;
	try {
		app = await startApp({ databaseUrl: database?.url, env, admins: options.admins });
	} catch (error) {
		await fake.close();
		await database?.drop();
		throw error;
	}
	return {
		app,
		fake,
		appKey,
		databaseUrl: database?.url,
		async stop() {
			await app.stop();
			await fake.close();
			await database?.drop();
		}
	};
}
