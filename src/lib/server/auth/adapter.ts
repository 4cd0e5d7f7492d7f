import { createHash } from 'node:crypto';
import type { Adapter, DatabaseSession, DatabaseUser } from 'lucia';
import type { Kysely } from 'kysely';
import type { Database } from '$lib/server/db';

/**
 * Lucia v3 adapter over Kysely. The cookie carries Lucia's random session id; the table stores
 * only its SHA-256, so reading the sessions table does not let anyone sign in as a user.
 */
export const hashSessionId = (sessionId: string) => createHash('sha256').update(sessionId).digest('hex');

export class KyselyLuciaAdapter implements Adapter {
	constructor(private readonly db: Kysely<Database>) {}

	async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
		const row = await this.db
			.selectFrom('sessions')
			.innerJoin('users', 'users.id', 'sessions.user_id')
			.select(['sessions.expires_at', 'users.id as user_id', 'users.email', 'users.role'])
			.where('sessions.id', '=', hashSessionId(sessionId))
			.executeTakeFirst();
		if (!row) return [null, null];
		return [
			{ id: sessionId, userId: row.user_id, expiresAt: row.expires_at, attributes: {} },
			{ id: row.user_id, attributes: { email: row.email, role: row.role } }
		];
	}

	async getUserSessions(userId: string): Promise<DatabaseSession[]> {
		const rows = await this.db
			.selectFrom('sessions')
			.select(['id', 'expires_at'])
			.where('user_id', '=', userId)
			.execute();
		// Only hashes are stored; they identify sessions for listing, not for signing in.
		return rows.map((row) => ({ id: row.id, userId, expiresAt: row.expires_at, attributes: {} }));
	}

	async setSession(session: DatabaseSession): Promise<void> {
		await this.db
			.insertInto('sessions')
			.values({ id: hashSessionId(session.id), user_id: session.userId, expires_at: session.expiresAt })
			.execute();
	}

	async updateSessionExpiration(sessionId: string, expiresAt: Date): Promise<void> {
		await this.db
			.updateTable('sessions')
			.set({ expires_at: expiresAt })
			.where('id', '=', hashSessionId(sessionId))
			.execute();
	}

	async deleteSession(sessionId: string): Promise<void> {
		await this.db.deleteFrom('sessions').where('id', '=', hashSessionId(sessionId)).execute();
	}

	async deleteUserSessions(userId: string): Promise<void> {
		await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
	}

	async deleteExpiredSessions(): Promise<void> {
		await this.db.deleteFrom('sessions').where('expires_at', '<=', new Date()).execute();
	}
}
