import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * The one `Database` interface Kysely types every query with. Each table mirrors its migration
 * in `migrations/`; constraints live there. Sections follow the domains that own the tables.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

// ---- db ----------------------------------------------------------------------------------------
export interface SchemaMigrationsTable {
	name: string;
	checksum: string;
	applied_at: ColumnType<Date, Date | undefined, never>;
}

// ---- auth --------------------------------------------------------------------------------------
export type Role = 'user' | 'admin';

export interface UsersTable {
	id: Generated<string>;
	email: string;
	password_hash: string;
	role: ColumnType<Role, Role | undefined, Role>;
	created_at: CreatedAt;
	password_changed_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface SessionsTable {
	/** SHA-256 of the session id the cookie carries, so a database leak yields no usable session. */
	id: string;
	user_id: string;
	expires_at: Timestamp;
	created_at: CreatedAt;
}

export interface AuthThrottleTable {
	/** `email:<normalized email>` or `ip:<address>`. */
	key: string;
	failures: number;
	window_started_at: Timestamp;
}

// ---- vault, keys, audit (migration 0002) --------------------------------------------------------

// ---- limits, notifications (migration 0003) ----------------------------------------------------

// ---- personal access tokens (migration 0004) ---------------------------------------------------

// ---- usage, conversations (migration 0005) -----------------------------------------------------

export interface Database {
	schema_migrations: SchemaMigrationsTable;
	users: UsersTable;
	sessions: SessionsTable;
	auth_throttle: AuthThrottleTable;
	// vault, keys, audit (0002)
	// limits, notifications (0003)
	// personal access tokens (0004)
	// usage, conversations (0005)
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
