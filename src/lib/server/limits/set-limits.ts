import type { Kysely, Transaction, Updateable } from 'kysely';
import type { Provider } from '$lib/server/config';
import type { Database, LimitSettingsTable } from '$lib/server/db';
import { recordAudit, type AuditDetails } from '$lib/server/audit';
import { AppError } from '$lib/server/errors';
import { formatUsd } from '$lib/money';
import { providerName } from '$lib/providers';
import { formatCount, limitsSavedNotice } from './messages';
import {
	adminCeilingOf,
	ceilingOf,
	defaultsFor,
	getEffectiveLimits,
	settingsColumns,
	type SettingsRow
} from './settings';
import { changesOf, type AdminSetLimitsInput, type SetLimitsInput } from './settings-input';
import { keySources, type EffectiveLimits, type KeySource, type LimitDefaults, type LimitSettingValues } from './types';

type Field = keyof LimitSettingValues;

/** Creates the (user, provider, key source) rows if missing and locks them for this transaction. */
async function lockSettings(
	trx: Transaction<Database>,
	userId: string,
	provider: Provider,
	sources: KeySource[]
): Promise<Map<KeySource, SettingsRow>> {
	await trx
		.insertInto('limit_settings')
		.values(sources.map((key_source) => ({ user_id: userId, provider, key_source })))
		.onConflict((oc) => oc.columns(['user_id', 'provider', 'key_source']).doNothing())
		.execute();
	const rows = await trx
		.selectFrom('limit_settings')
		.select(['key_source', ...settingsColumns])
		.where('user_id', '=', userId)
		.where('provider', '=', provider)
		.where('key_source', 'in', sources)
		.orderBy('key_source')
		.forUpdate()
		.execute();
	return new Map(rows.map((row) => [row.key_source, row]));
}

/** The `limits.set` input field a stored limit comes from. */
const capPeriods = { dailyCapMicros: 'Daily', weeklyCapMicros: 'Weekly', monthlyCapMicros: 'Monthly' } as const;

function inputFieldOf(field: Field, keySource: KeySource): keyof SetLimitsInput {
	if (field === 'requestsPerHour' || field === 'tokensPerHour') return field;
	const period = capPeriods[field];
	return keySource === 'user' ? `${period.toLowerCase() as Lowercase<typeof period>}CapUsd` : `app${period}CapUsd`;
}

function describeLimit(field: Field, keySource: KeySource): string {
	if (field === 'requestsPerHour') return 'requests-per-hour limit';
	if (field === 'tokensPerHour') return 'tokens-per-hour limit';
	const period = capPeriods[field].toLowerCase();
	return keySource === 'user' ? `${period} spending cap on your own key` : `${period} spending cap on the app's key`;
}

const formatValue = (field: Field, value: number) =>
	field === 'requestsPerHour' || field === 'tokensPerHour' ? formatCount(value) : formatUsd(value);

/** A user lowers (or clears) their own limits, never above the ceiling; all-or-nothing, one value too high is a 400. */
export async function setUserLimits(
	db: Kysely<Database>,
	limits: LimitDefaults,
	userId: string,
	input: SetLimitsInput
): Promise<EffectiveLimits & { notice: string }> {
	const changes = changesOf(input);
	const sources = keySources.filter((k) => Object.keys(changes[k]).length > 0);
	if (sources.length > 0) {
		await db.transaction().execute(async (trx) => {
			const rows = await lockSettings(trx, userId, input.provider, sources);
			for (const keySource of sources) {
				const ceiling = ceilingOf(adminCeilingOf(rows.get(keySource)), defaultsFor(limits, keySource));
				const change = changes[keySource];
				for (const field of Object.keys(change) as Field[]) {
					const value = change[field];
					const most = ceiling[field];
					if (value === undefined || value === null || most === null || value <= most) continue;
					const byAdmin = adminCeilingOf(rows.get(keySource))[field] !== null;
					throw new AppError(
						'bad_request',
						`You can lower your ${providerName(input.provider)} ${describeLimit(field, keySource)} but not raise it above ` +
							`${formatValue(field, most)} (${byAdmin ? 'the limit an admin set' : 'the default'}). Ask an admin to raise it.`,
						{
							reason: 'above_ceiling',
							details: {
								field: inputFieldOf(field, keySource),
								provider: input.provider,
								keySource,
								ceiling: most
							}
						}
					);
				}
				await trx
					.updateTable('limit_settings')
					.set({ ...columnsOf(change, ''), updated_at: new Date() })
					.where('user_id', '=', userId)
					.where('provider', '=', input.provider)
					.where('key_source', '=', keySource)
					.execute();
			}
		});
	}
	const inForce = await getEffectiveLimits(db, limits, userId);
	return { ...inForce, notice: limitsSavedNotice(input.provider, inForce) };
}

export interface AdminLimitsChange {
	userId: string;
	provider: Provider;
	/** Ceilings before and after, per key source changed. */
	before: Partial<Record<KeySource, LimitSettingValues>>;
	after: Partial<Record<KeySource, LimitSettingValues>>;
}

/** Who made an admin change, for the audit log. */
export interface AdminActor {
	actorUserId: string;
	ip?: string | null;
}

/** An admin sets a user's ceilings for one provider (null: the default again), audited in the same transaction. */
export async function setAdminLimits(
	db: Kysely<Database>,
	limits: LimitDefaults,
	input: AdminSetLimitsInput,
	actor: AdminActor
): Promise<{ limits: EffectiveLimits; change: AdminLimitsChange; notice: string }> {
	const { userId, provider } = input;
	const changes = changesOf(input);
	const sources = keySources.filter((k) => Object.keys(changes[k]).length > 0);
	const change: AdminLimitsChange = { userId, provider, before: {}, after: {} };
	await db.transaction().execute(async (trx) => {
		const user = await trx.selectFrom('users').select('id').where('id', '=', userId).forShare().executeTakeFirst();
		if (!user) throw new AppError('not_found', 'There is no user with that id.');
		if (sources.length === 0) return;
		const rows = await lockSettings(trx, userId, provider, sources);
		const details: AuditDetails = {};
		for (const keySource of sources) {
			const before = adminCeilingOf(rows.get(keySource));
			const after = { ...before, ...changes[keySource] };
			change.before[keySource] = before;
			change.after[keySource] = after;
			for (const field of Object.keys(changes[keySource]) as Field[]) {
				details[`${keySource}.${field}`] = after[field];
				details[`${keySource}.${field}.before`] = before[field];
			}
			await trx
				.updateTable('limit_settings')
				.set({ ...columnsOf(changes[keySource], 'admin_'), updated_at: new Date() })
				.where('user_id', '=', userId)
				.where('provider', '=', provider)
				.where('key_source', '=', keySource)
				.execute();
		}
		await recordAudit(trx, {
			action: 'limits.set_ceiling',
			actorUserId: actor.actorUserId,
			subjectUserId: userId,
			provider,
			ip: actor.ip ?? null,
			details
		});
	});
	const notice = `Saved the ${providerName(provider)} limits.`;
	return { limits: await getEffectiveLimits(db, limits, userId), change, notice };
}

function columnsOf(change: Partial<LimitSettingValues>, prefix: '' | 'admin_'): Updateable<LimitSettingsTable> {
	const out: Updateable<LimitSettingsTable> = {};
	const columns = {
		requestsPerHour: 'requests_per_hour',
		tokensPerHour: 'tokens_per_hour',
		dailyCapMicros: 'daily_cap_micros',
		weeklyCapMicros: 'weekly_cap_micros',
		monthlyCapMicros: 'monthly_cap_micros'
	} as const;
	for (const field of Object.keys(columns) as Field[]) {
		const value = change[field];
		if (value !== undefined) out[`${prefix}${columns[field]}`] = value;
	}
	return out;
}
