import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '$lib/server/audit';
import { revalidateDueKeys, startBackgroundJobs, type RevalidationSummary } from '$lib/server/keys';
import { connectDatabase, type DbHandle } from '$lib/server/db';
import type { Services } from '$lib/server/services';
import { describeEachDatabase } from '../helpers/db';
import { testServices } from '../helpers/services';
import { startFakeProviders, type FakeProviders } from '../fakes/server';
import { callerFor, createUser, fakeEnv, keyRows, PROVIDERS, testKey } from './keys-fixtures';

let fake: FakeProviders;
beforeAll(async () => {
	fake = await startFakeProviders();
});
afterAll(async () => {
	await fake.close();
});

describeEachDatabase('daily key revalidation', (database) => {
	let services: Services;
	/** A second instance: its own connection pool on PostgreSQL (PGlite has one connection). */
	let otherInstance: Services;
	let otherHandle: DbHandle | undefined;
	beforeAll(async () => {
		services = await testServices(database().handle, fakeEnv(fake));
		const url = database().url;
		otherHandle = url ? await connectDatabase({ databaseUrl: url, poolSize: 4 }) : undefined;
		otherInstance = await testServices(otherHandle ?? database().handle, fakeEnv(fake));
	});
	afterAll(async () => {
		await otherHandle?.close();
	});
	const lastSeq = () => fake.requests[fake.requests.length - 1]?.seq ?? 0;
	const makeAllDue = () =>
		services.db
			.updateTable('provider_keys')
			.set({ next_validation_at: new Date(Date.now() - 60_000) })
			.execute();

	/** Keys for `users` users, one per provider, all accepted now; returns their last-4 tails. */
	async function storeKeys(users: number): Promise<string[]> {
		const tails: string[] = [];
		for (let u = 0; u < users; u++) {
			const user = await createUser(services.db, 'reval');
			for (const provider of PROVIDERS) {
				const key = testKey(provider);
				fake.registerKey(provider, key, 'ok');
				await callerFor(services, user).keys.upsert({ provider, apiKey: key });
				tails.push(key.slice(-4));
			}
		}
		return tails;
	}

	async function drain(instance: Services): Promise<RevalidationSummary[]> {
		const runs: RevalidationSummary[] = [];
		for (;;) {
			const summary = await revalidateDueKeys(instance, { batchSize: 3, concurrency: 2 });
			runs.push(summary);
			if (summary.claimed === 0) return runs;
			if (runs.length > 100) throw new Error('a runner never drained');
		}
	}

	it('lets two instances running at once check every due key exactly once', async () => {
		const tails = await storeKeys(6);
		await makeAllDue();
		const mark = lastSeq();
		const [first, second] = await Promise.all([drain(services), drain(otherInstance)]);
		const claimed = [...first!, ...second!].reduce((sum, s) => sum + s.claimed, 0);
		expect(claimed).toBe(tails.length);
		const checks = fake.requests.filter((r) => r.seq > mark);
		expect(checks).toHaveLength(tails.length);
		expect(checks.map((r) => r.key).sort()).toEqual([...tails].sort());
		// Nothing is due any more: the next check is about a day away.
		const rows = await keyRows(services.db);
		for (const row of rows) {
			expect(row.status).toBe('valid');
			expect(row.next_validation_at.getTime()).toBeGreaterThan(Date.now() + 23 * 3_600_000);
		}
		expect(await revalidateDueKeys(services)).toMatchObject({ claimed: 0 });
		const { entries } = await listAudit(services.db, { action: 'key.validate', limit: 500 });
		const scheduled = entries.filter((e) => e.details.trigger === 'scheduled');
		expect(scheduled).toHaveLength(tails.length);
		expect(scheduled.every((e) => e.actorUserId === null)).toBe(true);
	});

	it('marks a revoked key invalid, keeps a key valid while its provider is down, and survives an unreadable row', async () => {
		const user = await createUser(services.db, 'changes');
		const caller = callerFor(services, user);
		const revoked = testKey('openai');
		const unlucky = testKey('google');
		const damaged = testKey('openrouter');
		for (const [provider, key] of [
			['openai', revoked],
			['google', unlucky],
			['openrouter', damaged]
		] as const) {
			fake.registerKey(provider, key, 'ok');
			await caller.keys.upsert({ provider, apiKey: key });
		}
		fake.registerKey('openai', revoked, '401');
		fake.registerKey('google', unlucky, '503');
		await services.db
			.updateTable('provider_keys')
			.set({ nonce: new Uint8Array(24) })
			.where('user_id', '=', user.id)
			.where('provider', '=', 'openrouter')
			.execute();
		await makeAllDue();
		const summary = await revalidateDueKeys(services, { batchSize: 100 });
		expect(summary).toMatchObject({ invalid: 1, unverified: 1, unreadable: 1 });
		const rows = Object.fromEntries((await keyRows(services.db, user.id)).map((r) => [r.provider, r]));
		expect(rows.openai).toMatchObject({ status: 'invalid', last_error_code: 'http_401' });
		expect(rows.google).toMatchObject({ status: 'valid', last_error_code: 'http_503' });
		expect(rows.google!.next_validation_at.getTime()).toBeLessThanOrEqual(Date.now() + 3_600_000);
		expect(rows.openrouter).toMatchObject({ status: 'valid', last_error_code: 'vault_cannot_open' });
	});

	it('runs in the background once started and stops cleanly', async () => {
		const tails = await storeKeys(1);
		await makeAllDue();
		const due = (await keyRows(services.db)).length;
		const mark = lastSeq();
		const jobs = startBackgroundJobs(services, { firstRunDelayMs: 0, intervalMs: 60_000, batchSize: 2 });
		const checkedSoFar = () => fake.requests.filter((r) => r.seq > mark);
		// Generous bound: it normally takes well under a second. The unreadable row makes no request,
		// and may be claimed in a batch after the last request was seen, so the wait is also for
		// nothing to be due any more (a read; it claims nothing).
		const stillDue = async () =>
			(
				await services.db
					.selectFrom('provider_keys')
					.select('id')
					.where('next_validation_at', '<=', sql<Date>`now()`)
					.execute()
			).length;
		const deadline = Date.now() + 20_000;
		while ((checkedSoFar().length < due - 1 || (await stillDue()) > 0) && Date.now() < deadline) {
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		await jobs.stop();
		const checked = checkedSoFar().map((r) => r.key);
		expect(checked).toHaveLength(due - 1);
		for (const tail of tails) expect(checked).toContain(tail);
		expect(await revalidateDueKeys(services)).toMatchObject({ claimed: 0 });
	});
});
