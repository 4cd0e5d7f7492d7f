import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '$lib/server/db';
import { startChat } from '$lib/server/routing';
import { chatDeps } from '$lib/server/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { deployments, runScript, type Deployment } from '../helpers/cli';
import { postgresSkipReason, requirePostgres, testDatabaseUrl } from '../helpers/env';
import { testServices } from '../helpers/services';
import { recordSecret } from '../helpers/test-output';
import { callerFor, createUser, fakeEnv, testKey, type TestUser } from '../integration/keys-fixtures';

/**
 * `npm run keys:rotate` (scripts/rotate-keys.ts) as an operator runs it: a separate process on the
 * app's database, told the keyring by MASTER_KEYS. `rotateKeys()` underneath is tested in
 * tests/integration/vault-rotation.test.ts; this is the command around it: its exit codes, what
 * it prints, and that a user's key still answers a chat afterwards under the new master key alone.
 */

function masterKey(id: string): string {
	const material = randomBytes(32).toString('base64');
	recordSecret(material);
	return `${id}:${material}`;
}

const rotate = (env: Record<string, string>, args: string[] = []) => runScript('rotate-keys.ts', env, args);

for (const kind of ['pglite', 'postgres'] as const) {
	const skip = kind === 'postgres' && !testDatabaseUrl && !requirePostgres;
	describe.skipIf(skip)(`npm run keys:rotate [${kind}]${skip ? ` (${postgresSkipReason})` : ''}`, () => {
		let fake: FakeProviders;
		let deployment: Deployment;
		let user: TestUser;
		let apiKey: string;
		const oldKey = masterKey('k2026');
		const newKey = masterKey('k2027');

		const masterKeyIds = async () => {
			const handle = await deployment.open();
			try {
				const rows = await handle.db.selectFrom('provider_keys').select('master_key_id').execute();
				return rows.map((row) => row.master_key_id);
			} finally {
				await handle.close();
			}
		};

		beforeAll(async () => {
			fake = await startFakeProviders();
			deployment = await deployments[kind]();
			// A user stores an OpenAI key while the app runs with the old master key only.
			const handle = await deployment.open();
			try {
				await migrate(handle);
				const services = await testServices(handle, { ...fakeEnv(fake), MASTER_KEYS: oldKey });
				user = await createUser(services.db, 'rotate');
				apiKey = testKey('openai', 'rotate');
				fake.registerKey('openai', apiKey, 'ok');
				await callerFor(services, user).keys.upsert({ provider: 'openai', apiKey });
			} finally {
				await handle.close();
			}
		});
		afterAll(async () => {
			await fake?.close();
			await deployment?.cleanup();
		});

		it('refuses a bad --batch-size with a clear message and changes nothing', async () => {
			const result = await rotate({ ...deployment.env, MASTER_KEYS: `${newKey},${oldKey}` }, ['--batch-size', '0']);
			expect(result.code).toBe(2);
			expect(result.output).toContain('--batch-size must be a whole number from 1 to 10000');
			expect(await masterKeyIds()).toEqual(['k2026']);
		});

		it('leaves a key it cannot open as it is, says which, and exits 1', async () => {
			const result = await rotate({ ...deployment.env, MASTER_KEYS: newKey });
			expect(result.code).toBe(1);
			expect(result.output).toMatch(/1 key\(s\) could not be opened with this keyring/);
			expect(result.output).toMatch(/add the missing old master key to MASTER_KEYS and rerun/);
			expect(await masterKeyIds()).toEqual(['k2026']);
		});

		it('re-seals every key under the new master key, says the old one may go, and the key still answers', async () => {
			const result = await rotate({ ...deployment.env, MASTER_KEYS: `${newKey},${oldKey}` });
			expect(result.code, result.output).toBe(0);
			expect(result.output).toContain('Re-sealed 1 key(s) from k2026');
			expect(result.output).toContain('Every stored key is under "k2027". You may now remove k2026 from MASTER_KEYS.');
			for (const secret of [apiKey, oldKey.split(':')[1]!, newKey.split(':')[1]!]) {
				expect(result.output).not.toContain(secret);
			}
			expect(await masterKeyIds()).toEqual(['k2027']);

			// Run again: nothing left to do.
			const again = await rotate({ ...deployment.env, MASTER_KEYS: `${newKey},${oldKey}` });
			expect(again.code).toBe(0);
			expect(again.output).toContain('Re-sealed 0 key(s)');

			// The app, now given the new master key alone, still answers with the user's own key.
			const handle = await deployment.open();
			try {
				const services = await testServices(handle, { ...fakeEnv(fake), MASTER_KEYS: newKey });
				const session = await startChat(chatDeps(services), {
					principal: { kind: 'session', userId: user.id },
					modelId: 'openai/gpt-4o-mini',
					messages: [{ role: 'user', content: 'Still there?' }],
					stream: true,
					api: 'web',
					requestId: randomUUID(),
					signal: new AbortController().signal
				});
				expect(session.keySource).toBe('user');
				let text = '';
				for await (const event of session.events) if (event.type === 'delta') text += event.text;
				expect(text).toContain('Still there?');
				// Its bookkeeping (settlement, usage record) finishes before the database closes.
				expect(await services.activeChats.whenIdle(10_000)).toBe(true);
				await services.usageWriter.flush();
			} finally {
				await handle.close();
			}
		});
	});
}
