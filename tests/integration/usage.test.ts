import { beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '$lib/server/auth';
import { connectDatabase } from '$lib/server/db';
import type { Services } from '$lib/server/services';
import {
	dailyUsage,
	insertUsageRecord,
	summarizeUsage,
	usageByModel,
	UsageWriter,
	type UsageRecord
} from '$lib/server/usage';
import { createTestDatabase, describeEachDatabase } from '../helpers/db';
import { testDatabaseUrl } from '../helpers/env';
import { startTcpProxy, throughProxy } from '../helpers/tcp-proxy';
import { testServices } from '../helpers/services';
import { usageRecord } from '../helpers/usage';

/** Where these sign-ups come from (sign-up is throttled per address). */
const LOCAL = { ip: '127.0.0.1' };

const record = (userId: string, overrides: Partial<UsageRecord> = {}) =>
	usageRecord(userId, { costMicros: 45, ...overrides });

describeEachDatabase('usage records', (database) => {
	let services: Services;
	let userId: string;
	let otherId: string;
	beforeAll(async () => {
		services = await testServices(database().handle);
		userId = (await signUp(services, { email: 'usage@example.com', password: 'usage password' }, LOCAL)).user.id;
		otherId = (await signUp(services, { email: 'other@example.com', password: 'other password' }, LOCAL)).user.id;
	});

	it('keeps exactly one record per request id, even when written twice', async () => {
		const first = record(userId, { requestId: 'dup-1' });
		await insertUsageRecord(services.db, first);
		await insertUsageRecord(services.db, { ...first, costMicros: 999 });
		const rows = await services.db.selectFrom('usage_records').selectAll().where('request_id', '=', 'dup-1').execute();
		expect(rows).toHaveLength(1);
		expect(rows[0]?.cost_micros).toBe(45);
	});

	it('refuses negative tokens or cost at the schema level', async () => {
		await expect(insertUsageRecord(services.db, record(userId, { costMicros: -1 }))).rejects.toThrow();
		await expect(insertUsageRecord(services.db, record(userId, { promptTokens: -5 }))).rejects.toThrow();
	});

	it('sums per provider and key source, for the caller only', async () => {
		const day = new Date(Date.UTC(2026, 0, 15, 12));
		const at = (h: number) => new Date(day.getTime() + h * 3_600_000);
		await insertUsageRecord(
			services.db,
			record(userId, { provider: 'anthropic', model: 'anthropic/claude-sonnet-4', costMicros: 1_000, createdAt: at(0) })
		);
		await insertUsageRecord(
			services.db,
			record(userId, { provider: 'anthropic', model: 'anthropic/claude-sonnet-4', costMicros: 2_000, createdAt: at(1) })
		);
		await insertUsageRecord(
			services.db,
			record(userId, {
				provider: 'anthropic',
				model: 'anthropic/claude-sonnet-4',
				keySource: 'app',
				servedBy: 'openrouter',
				costMicros: 500,
				createdAt: at(30)
			})
		);
		await insertUsageRecord(
			services.db,
			record(userId, {
				provider: 'anthropic',
				success: false,
				errorCode: 'upstream_error',
				costMicros: 0,
				createdAt: at(2)
			})
		);
		await insertUsageRecord(
			services.db,
			record(otherId, { provider: 'anthropic', costMicros: 7_777, createdAt: at(1) })
		);

		const range = { from: day, to: new Date(day.getTime() + 3 * 86_400_000) };
		const totals = await summarizeUsage(services.db, userId, range);
		expect(totals).toEqual([
			{
				provider: 'anthropic',
				keySource: 'app',
				requests: 1,
				failedRequests: 0,
				promptTokens: 100,
				completionTokens: 50,
				costMicros: 500
			},
			{
				provider: 'anthropic',
				keySource: 'user',
				requests: 3,
				failedRequests: 1,
				promptTokens: 300,
				completionTokens: 150,
				costMicros: 3_000
			}
		]);
		const daily = await dailyUsage(services.db, userId, range);
		expect(daily.map((d) => [d.day, d.keySource, d.costMicros])).toEqual([
			['2026-01-15', 'user', 3_000],
			['2026-01-16', 'app', 500]
		]);
		const byModel = await usageByModel(services.db, userId, range);
		expect(byModel[0]).toMatchObject({ model: 'anthropic/claude-sonnet-4', keySource: 'user', costMicros: 3_000 });
	});
});

describe.skipIf(!testDatabaseUrl)('the usage writer against a PostgreSQL that goes away', () => {
	it('queues records while the database is unreachable and writes them once it is back', async () => {
		const database = await createTestDatabase('postgres');
		const target = new URL(database.url!);
		const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
		const viaProxy = await connectDatabase({ databaseUrl: throughProxy(database.url!, proxy), poolSize: 2 });
		try {
			const services = await testServices(database.handle);
			const { user } = await signUp(services, { email: 'writer@example.com', password: 'writer password' }, LOCAL);
			const writer = new UsageWriter(viaProxy.db, { retryDelayMs: 50, maxDelayMs: 200 });
			await writer.write(record(user.id, { requestId: 'before-outage' }));
			await proxy.down();
			await writer.write(record(user.id, { requestId: 'during-outage-1' }));
			await writer.write(record(user.id, { requestId: 'during-outage-2' }));
			expect(writer.pendingCount).toBe(2);
			await proxy.up();
			expect(await writer.flush(10_000)).toBe(0);
			const rows = await services.db
				.selectFrom('usage_records')
				.select('request_id')
				.where('user_id', '=', user.id)
				.orderBy('request_id')
				.execute();
			expect(rows.map((r) => r.request_id)).toEqual(['before-outage', 'during-outage-1', 'during-outage-2']);
		} finally {
			await viaProxy.close();
			await proxy.close();
			await database.drop();
		}
	});
});
