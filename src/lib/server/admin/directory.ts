import { sql, type Kysely } from 'kysely';
import type { Database, KeySource, Role } from '$lib/server/db';
import { notFound } from '$lib/server/errors';
import { METADATA_COLUMNS, toMetadata, type KeyMetadata, type MetadataRow } from '$lib/server/keys';
import { getEffectiveLimits, type EffectiveLimits, type LimitDefaults } from '$lib/server/limits';
import { startOfUtcDay, startOfUtcMonth, summarizeUsage, type UsageTotals } from '$lib/server/usage';
import { parseInput } from '$lib/server/validation';
import { adminUserInput, adminUsersInput } from './schemas';

/** The user directory admins browse: accounts, their keys' metadata (never key material), spend. */

/** What an admin may see of a stored key: the same metadata its owner sees. */
export type AdminKey = KeyMetadata;

/** The keys domain's metadata columns plus the owner: ciphertext, nonce and fingerprint stay put. */
export const KEY_METADATA_COLUMNS = [...METADATA_COLUMNS, 'user_id'] as const;

export type KeyMetadataRow = MetadataRow & { user_id: string };

export const adminKeyOf = (row: KeyMetadataRow): AdminKey => toMetadata(row);

export interface SourceSpend {
	requests: number;
	costMicros: number;
}

export interface AdminUserSummary {
	id: string;
	email: string;
	role: Role;
	createdAt: Date;
	keys: AdminKey[];
	/** Since the start of the UTC month, per key source. */
	monthToDate: Record<KeySource, SourceSpend>;
}

export interface AdminUserPage {
	users: AdminUserSummary[];
	total: number;
	page: number;
	pageSize: number;
	pageCount: number;
	search: string | null;
	monthStart: Date;
}

/** `%` and `_` in a search are letters, not wildcards. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** One page of users by email, with each one's keys and month-to-date spend by key source. */
export async function listUsers(db: Kysely<Database>, input: unknown, now = new Date()): Promise<AdminUserPage> {
	const { search, page, pageSize } = parseInput(adminUsersInput, input ?? {});
	let filtered = db.selectFrom('users');
	if (search) filtered = filtered.where(sql<boolean>`email ilike ${likePattern(search)}`);
	const [[counted], users] = await Promise.all([
		filtered.select(sql<number>`count(*)`.as('total')).execute(),
		filtered
			.select(['id', 'email', 'role', 'created_at'])
			.orderBy('email')
			.limit(pageSize)
			.offset((page - 1) * pageSize)
			.execute()
	]);
	const total = counted?.total ?? 0;
	const ids = users.map((u) => u.id);
	const monthStart = startOfUtcMonth(now);
	const [keys, spend] =
		ids.length === 0
			? [[], []]
			: await Promise.all([
					db
						.selectFrom('provider_keys')
						.select(KEY_METADATA_COLUMNS)
						.where('user_id', 'in', ids)
						.orderBy('provider')
						.execute(),
					db
						.selectFrom('usage_records')
						.select([
							'user_id',
							'key_source',
							sql<number>`count(*)`.as('requests'),
							sql<number>`coalesce(sum(cost_micros), 0)::bigint`.as('cost_micros')
						])
						.where('user_id', 'in', ids)
						.where('created_at', '>=', monthStart)
						.groupBy(['user_id', 'key_source'])
						.execute()
				]);
	return {
		users: users.map((user) => {
			const spendOf = (source: KeySource): SourceSpend => {
				const row = spend.find((s) => s.user_id === user.id && s.key_source === source);
				return { requests: row?.requests ?? 0, costMicros: row?.cost_micros ?? 0 };
			};
			return {
				id: user.id,
				email: user.email,
				role: user.role,
				createdAt: user.created_at,
				keys: keys.filter((k) => k.user_id === user.id).map(adminKeyOf),
				monthToDate: { user: spendOf('user'), app: spendOf('app') }
			};
		}),
		total,
		page,
		pageSize,
		pageCount: Math.max(1, Math.ceil(total / pageSize)),
		search: search ?? null,
		monthStart
	};
}

export interface UsagePeriod {
	from: Date;
	to: Date;
	/** Per provider and key source. */
	totals: UsageTotals[];
}

export interface AdminUserDetails {
	user: { id: string; email: string; role: Role; createdAt: Date };
	keys: AdminKey[];
	usage: { monthToDate: UsagePeriod; last30Days: UsagePeriod };
	/** Limits in force, the user's own settings and the admin ceilings, per provider and key source. */
	limits: EffectiveLimits;
}

const DAY_MS = 86_400_000;

/** One user for the admin: keys, usage by key source, limits. Unknown id: NOT_FOUND. */
export async function getUserDetails(
	db: Kysely<Database>,
	limitDefaults: LimitDefaults,
	input: unknown,
	now = new Date()
): Promise<AdminUserDetails> {
	const { id } = parseInput(adminUserInput, input);
	const user = await db
		.selectFrom('users')
		.select(['id', 'email', 'role', 'created_at'])
		.where('id', '=', id)
		.executeTakeFirst();
	if (!user) throw notFound('There is no user with that id.');
	const tomorrow = new Date(startOfUtcDay(now).getTime() + DAY_MS);
	const month = { from: startOfUtcMonth(now), to: tomorrow };
	const last30 = { from: new Date(tomorrow.getTime() - 30 * DAY_MS), to: tomorrow };
	const [keys, monthTotals, last30Totals, limits] = await Promise.all([
		db.selectFrom('provider_keys').select(KEY_METADATA_COLUMNS).where('user_id', '=', id).orderBy('provider').execute(),
		summarizeUsage(db, id, month),
		summarizeUsage(db, id, last30),
		getEffectiveLimits(db, limitDefaults, id, { now })
	]);
	return {
		user: { id: user.id, email: user.email, role: user.role, createdAt: user.created_at },
		keys: keys.map(adminKeyOf),
		usage: {
			monthToDate: { ...month, totals: monthTotals },
			last30Days: { ...last30, totals: last30Totals }
		},
		limits
	};
}
