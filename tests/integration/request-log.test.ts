import { beforeAll, expect, it } from 'vitest';
import type { KyselyPlugin } from 'kysely';
import type { Services } from '$lib/server/services';
import { createCaller } from '$lib/server/trpc';
import { createAccessToken } from '$lib/server/auth';
import { UsageWriter } from '$lib/server/usage';
import { describeEachDatabase } from '../helpers/db';
import { leakedPieces } from '../helpers/secret-pieces';
import { testServices } from '../helpers/services';
import { recordSecret } from '../helpers/test-output';
import { createUser } from './keys-fixtures';

/** Every statement fails, as when the audit table cannot be written. */
const failingStatements: KyselyPlugin = {
	transformQuery() {
		throw new Error('the audit log is not writable');
	},
	async transformResult(args) {
		return args.result;
	}
};

/** The log lines with this message, parsed. */
function linesWith(services: Services & { logLines: string[] }, msg: string): Array<Record<string, unknown>> {
	return services.logLines
		.map((line) => JSON.parse(line) as Record<string, unknown>)
		.filter((line) => line.msg === msg);
}

describeEachDatabase('request ids on log lines', (database) => {
	let services: Services & { logLines: string[] };
	beforeAll(async () => {
		services = await testServices(database().handle);
	});

	it('logs a refused admin procedure whose audit write failed with the request id', async () => {
		const user = await createUser(services.db, 'not-admin');
		const caller = createCaller({
			services: { ...services, db: services.db.withPlugin(failingStatements) },
			user: { ...user, role: 'user' },
			sessionId: null,
			ip: '203.0.113.9',
			requestId: 'req-admin-refused'
		});
		await expect(caller.admin.users({})).rejects.toMatchObject({ code: 'FORBIDDEN' });
		const lines = linesWith(services, 'could not audit a refused admin attempt');
		expect(lines).toHaveLength(1);
		expect(lines[0]).toMatchObject({ requestId: 'req-admin-refused', path: '/api/trpc/admin.users' });
	});

	it('logs a write queued during a database outage with its request id as a field', async () => {
		const writer = new UsageWriter(services.db, { log: services.log, retryDelayMs: 10 });
		let attempts = 0;
		await writer.writeDurably({
			description: 'settle req-queued',
			requestId: 'req-queued',
			async run() {
				attempts += 1;
				if (attempts === 1)
					throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
			}
		});
		expect(await writer.flush(2_000)).toBe(0);
		expect(attempts).toBe(2);
		expect(linesWith(services, 'write queued: database unreachable')).toEqual([
			expect.objectContaining({ requestId: 'req-queued', write: 'settle req-queued' })
		]);
	});

	it("writes no access token that reached a request logger's fields", async () => {
		const user = await createUser(services.db, 'bound-token');
		const { token } = await createAccessToken(services.db, user.id, { name: 'sent as a request id' });
		recordSecret(token);
		services.log.child({ requestId: 'req-bound' }).child({ clientRequestId: token }).info('request');
		const line = linesWith(services, 'request').find((l) => l.requestId === 'req-bound');
		expect(line).toMatchObject({ clientRequestId: '[redacted]' });
		expect(leakedPieces(services.logLines.join(''), [token])).toEqual([]);
	});
});
