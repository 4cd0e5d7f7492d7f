import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Provider } from '$lib/server/config';
import { markKeyInvalid, revalidateDueKeys } from '$lib/server/keys';
import { createKeyring, rotateKeys } from '$lib/server/vault';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { TEST_MASTER_KEYS } from '../helpers/env';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { callerFor, createUser, fakeEnv, PROVIDERS, testKey, withActiveKey } from './keys-fixtures';

let fake: FakeProviders;
beforeAll(async () => {
	fake = await startFakeProviders();
});
afterAll(async () => {
	await fake.close();
});

/** Every 8-character piece of every key: finding any of them anywhere is a leak. */
function piecesOf(keys: string[]): string[] {
	const pieces = new Set<string>();
	for (const key of keys) for (let i = 0; i + 8 <= key.length; i++) pieces.add(key.slice(i, i + 8));
	return [...pieces];
}

function leaksIn(haystack: string, pieces: string[]): string[] {
	return pieces.filter((piece) => haystack.includes(piece));
}

/** Every value of every text, varchar, bytea, json and jsonb column of every table, as text. */
async function everyStoredValue(services: Services): Promise<Array<{ where: string; text: string }>> {
	const columns = await sql<{ table_name: string; column_name: string; data_type: string }>`
		select c.table_name, c.column_name, c.data_type
		from information_schema.columns c
		join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
		where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
			and c.data_type in ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'ARRAY')`.execute(services.db);
	expect(columns.rows.length).toBeGreaterThan(10);
	const values: Array<{ where: string; text: string }> = [];
	for (const { table_name, column_name, data_type } of columns.rows) {
		const result = await sql<{
			value: unknown;
		}>`select ${sql.ref(column_name)} as value from ${sql.table(table_name)}`.execute(services.db);
		for (const { value } of result.rows) {
			if (value === null || value === undefined) continue;
			const where = `${table_name}.${column_name} (${data_type})`;
			if (value instanceof Uint8Array) {
				// Raw bytes read as text both ways, so an unsealed copy in any encoding would show.
				values.push({ where, text: Buffer.from(value).toString('latin1') });
				values.push({ where, text: Buffer.from(value).toString('utf8') });
			} else {
				values.push({ where, text: typeof value === 'string' ? value : JSON.stringify(value) });
			}
		}
	}
	return values;
}

describeEachDatabase('no key material at rest or in logs', (database) => {
	let services: Services & { logLines: string[] };
	beforeAll(async () => {
		services = await testServices(database().handle, fakeEnv(fake));
	});
	/** Fails the call and logs the error the way the HTTP layer logs a failed procedure. */
	const failLogged = async (promise: Promise<unknown>) => {
		try {
			await promise;
		} catch (error) {
			const cause = (error as { cause?: unknown }).cause ?? error;
			services.log.error({ err: cause, details: (cause as { details?: unknown }).details }, 'tRPC procedure failed');
			services.log.warn((error as Error).message);
			return;
		}
		throw new Error('expected the call to fail');
	};

	it('stores keys for several users and leaves no key, nor any 8-character piece of one, in any column or log line', async () => {
		const stored: string[] = [];
		for (let u = 0; u < 3; u++) {
			const user = await createUser(services.db, `leak${u}`);
			const caller = callerFor(services, user);
			const ids: Partial<Record<Provider, string>> = {};
			for (const provider of PROVIDERS) {
				// A replaced key, a kept one: both must be gone from everywhere but the sealed column.
				const replaced = testKey(provider);
				const kept = testKey(provider);
				fake.registerKey(provider, replaced, 'ok');
				fake.registerKey(provider, kept, u === 2 ? '500' : 'ok');
				await caller.keys.upsert({ provider, apiKey: replaced, label: `${provider} key` });
				ids[provider] = (await caller.keys.upsert({ provider, apiKey: kept })).key.id;
				stored.push(replaced, kept);
				// Failures travel through error paths too: a rejected key, a duplicate, a wrong provider.
				const rejected = testKey(provider);
				fake.registerKey(provider, rejected, '401');
				stored.push(rejected);
				await failLogged(caller.keys.upsert({ provider, apiKey: rejected }));
				await failLogged(caller.keys.upsert({ provider, apiKey: kept }));
				await failLogged(caller.keys.upsert({ provider: provider === 'openai' ? 'google' : 'openai', apiKey: kept }));
				await failLogged(caller.keys.upsert({ provider, apiKey: `${kept}\u0000` }));
			}
			await caller.keys.validate({ id: ids.openai! });
			await caller.keys.setActive({ id: ids.google!, active: false });
			await markKeyInvalid(services.db, ids.anthropic!, 'invalid_api_key');
			await withActiveKey(services.db, services.keyring, { userId: user.id, provider: 'openrouter' }, () => {
				services.log.info({ userId: user.id }, 'opened a key for a request');
			});
			await caller.keys.remove({ id: ids.openrouter! });
		}
		await services.db
			.updateTable('provider_keys')
			.set({ next_validation_at: new Date(0) })
			.execute();
		await revalidateDueKeys(services, { batchSize: 100 });
		await rotateKeys(
			services.db,
			await createKeyring([{ id: 'next', key: new Uint8Array(32).fill(42) }, ...(services.config.masterKeys ?? [])])
		);

		const pieces = piecesOf(stored);
		const values = await everyStoredValue(services);
		expect(values.some((v) => v.where.startsWith('provider_keys.ciphertext'))).toBe(true);
		expect(values.some((v) => v.where.startsWith('audit_log.details'))).toBe(true);
		const found = values.flatMap((v) => leaksIn(v.text, pieces).map((piece) => `${v.where}: ${piece}`));
		expect(found).toEqual([]);

		expect(services.logLines.length).toBeGreaterThan(30);
		expect(leaksIn(services.logLines.join('\n'), pieces)).toEqual([]);
		// The master key never shows either.
		const master = TEST_MASTER_KEYS.split(':')[1] ?? '';
		expect(services.logLines.join('\n')).not.toContain(master.slice(0, 12));
	});
});
