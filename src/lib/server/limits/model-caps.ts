import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { providers, type Provider } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import { recordAudit } from '$lib/server/audit';
import { AppError } from '$lib/server/errors';
import { formatUsd, usdToMicros } from '$lib/money';
import { MAX_DAILY_CAP_USD } from './settings-input';
import { formatCount } from './messages';
import type { AdminActor } from './set-limits';
import type { ModelCap } from './types';

/** A user may cap at most this many models. */
export const MAX_MODEL_CAPS = 50;

// The same syntax as the table's check constraint (migration 0022).
const MODEL_ID = new RegExp(`^(${providers.join('|')})/[A-Za-z0-9._:/@+-]{1,180}$`);
const modelMessage = 'model must be a model id such as anthropic/claude-opus-4.';
const usdMessage = `dailyCapUsd must be an amount in US dollars from 0 to ${formatCount(MAX_DAILY_CAP_USD)} with at most 6 decimals, or null to remove the cap.`;

const modelCapFields = {
	model: z.string({ invalid_type_error: modelMessage, required_error: modelMessage }).regex(MODEL_ID, modelMessage),
	/** null removes the cap (the user's own setting, or the admin's ceiling). */
	dailyCapUsd: z
		.number({ invalid_type_error: usdMessage, required_error: usdMessage })
		.finite({ message: usdMessage })
		.min(0, { message: usdMessage })
		.max(MAX_DAILY_CAP_USD, { message: usdMessage })
		.refine((usd) => usdToMicros(usd) !== undefined, { message: usdMessage })
		.nullable()
};

/** `limits.setModelCap` input. */
export const setModelCapInput = z.object(modelCapFields).strict();
export type SetModelCapInput = z.output<typeof setModelCapInput>;

/** `admin.setModelCap` input: the admin's ceiling for that user and model. */
export const adminSetModelCapInput = z
	.object({
		userId: z.string({ invalid_type_error: 'userId must be a user id.' }).uuid('userId must be a user id.'),
		...modelCapFields
	})
	.strict();
export type AdminSetModelCapInput = z.output<typeof adminSetModelCapInput>;

const microsOf = (usd: number | null): number | null => (usd === null ? null : (usdToMicros(usd) ?? null));

/** The user's model caps with today's spend on each model, in one query. */
export async function getModelCaps(db: Kysely<Database>, userId: string, day: string): Promise<ModelCap[]> {
	const rows = await db
		.selectFrom('limit_model_caps as c')
		.leftJoin('limit_model_spend as m', (join) =>
			join
				.onRef('m.user_id', '=', 'c.user_id')
				.onRef('m.model', '=', 'c.model')
				.on('m.day', '=', sql<Date>`${day}::date`)
		)
		.select(['c.model', 'c.daily_cap_micros', 'c.admin_daily_cap_micros', 'm.settled_micros', 'm.reserved_micros'])
		.where('c.user_id', '=', userId)
		.orderBy('c.model')
		.execute();
	return rows.map((row) => {
		const user = row.daily_cap_micros;
		const admin = row.admin_daily_cap_micros;
		const cap = user === null ? admin : admin === null ? user : Math.min(user, admin);
		const settled = row.settled_micros ?? 0;
		return {
			model: row.model,
			dailyCapMicros: cap,
			userSetting: user,
			adminCeiling: admin,
			settledTodayMicros: settled,
			reservedTodayMicros: row.reserved_micros ?? 0,
			paused: cap !== null && settled >= cap
		};
	});
}

/** Locks (creating if missing) the user's row for `model`. */
async function lockModelCap(db: Kysely<Database>, userId: string, model: string) {
	await db
		.insertInto('limit_model_caps')
		.values({ user_id: userId, model })
		.onConflict((oc) => oc.columns(['user_id', 'model']).doNothing())
		.execute();
	return db
		.selectFrom('limit_model_caps')
		.select(['daily_cap_micros', 'admin_daily_cap_micros'])
		.where('user_id', '=', userId)
		.where('model', '=', model)
		.forUpdate()
		.executeTakeFirstOrThrow();
}

/**
 * Admission reserves in a model's day row only while the model has a cap (migration 0024), so a
 * new cap first counts the day so far: every reservation of today (or later) for this model that
 * did not count moves in, settled cost as settled, open amounts as reserved, and from now on
 * settles, releases and reclaims there too. A request admitted in the same instant the cap is
 * saved, after this count, is counted when it settles (limits_settle). Idempotent; in the
 * caller's transaction.
 */
async function countModelSpendSoFar(db: Kysely<Database>, userId: string, model: string): Promise<void> {
	await sql`
		with moved as (
			update limit_reservations r
			set counts_model_spend = true
			where r.user_id = ${userId}::uuid and r.model = ${model}::text and not r.counts_model_spend
				and r.day >= (now() at time zone 'UTC')::date
			returning r.day,
				case when r.outcome = 'settled' then r.cost_micros else 0 end as settled,
				case when r.outcome is null then r.amount_micros else 0 end as reserved
		)
		insert into limit_model_spend as m (user_id, model, day, settled_micros, reserved_micros)
		select ${userId}::uuid, ${model}::text, day, sum(settled), sum(reserved) from moved group by day
		on conflict (user_id, model, day) do update
			set settled_micros = m.settled_micros + excluded.settled_micros,
				reserved_micros = m.reserved_micros + excluded.reserved_micros`.execute(db);
}

/** Deletes rows that no longer cap anything and checks the count; in the caller's transaction. */
async function tidy(db: Kysely<Database>, userId: string): Promise<void> {
	await db
		.deleteFrom('limit_model_caps')
		.where('user_id', '=', userId)
		.where('daily_cap_micros', 'is', null)
		.where('admin_daily_cap_micros', 'is', null)
		.execute();
	const { count } = await db
		.selectFrom('limit_model_caps')
		.select((eb) => eb.fn.countAll<number>().as('count'))
		.where('user_id', '=', userId)
		.executeTakeFirstOrThrow();
	if (Number(count) > MAX_MODEL_CAPS)
		throw new AppError('bad_request', `You can cap at most ${MAX_MODEL_CAPS} models. Remove a cap first.`, {
			reason: 'too_many_model_caps',
			details: { field: 'model', max: MAX_MODEL_CAPS }
		});
}

/** A user sets (or with null removes) their daily cap for one model, never above an admin's ceiling. */
export async function setUserModelCap(db: Kysely<Database>, userId: string, input: SetModelCapInput): Promise<void> {
	const cap = microsOf(input.dailyCapUsd);
	await db.transaction().execute(async (trx) => {
		// The user row serializes a user's cap changes, so the count check in tidy() holds.
		await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().executeTakeFirstOrThrow();
		const row = await lockModelCap(trx, userId, input.model);
		const ceiling = row.admin_daily_cap_micros;
		if (cap !== null && ceiling !== null && cap > ceiling)
			throw new AppError(
				'bad_request',
				`You can lower your daily spending cap for ${input.model} but not raise it above ${formatUsd(ceiling)} (the limit an admin set). Ask an admin to raise it.`,
				{ reason: 'above_ceiling', details: { field: 'dailyCapUsd', model: input.model, ceiling } }
			);
		await trx
			.updateTable('limit_model_caps')
			.set({ daily_cap_micros: cap, updated_at: new Date() })
			.where('user_id', '=', userId)
			.where('model', '=', input.model)
			.execute();
		if (cap !== null) await countModelSpendSoFar(trx, userId, input.model);
		await tidy(trx, userId);
	});
}

/** An admin sets (or with null clears) the ceiling of a user's daily cap for one model; audited. */
export async function setAdminModelCap(
	db: Kysely<Database>,
	input: AdminSetModelCapInput,
	actor: AdminActor
): Promise<void> {
	const cap = microsOf(input.dailyCapUsd);
	await db.transaction().execute(async (trx) => {
		const user = await trx
			.selectFrom('users')
			.select('id')
			.where('id', '=', input.userId)
			.forUpdate()
			.executeTakeFirst();
		if (!user) throw new AppError('not_found', 'There is no user with that id.');
		const before = await lockModelCap(trx, input.userId, input.model);
		await trx
			.updateTable('limit_model_caps')
			.set({ admin_daily_cap_micros: cap, updated_at: new Date() })
			.where('user_id', '=', input.userId)
			.where('model', '=', input.model)
			.execute();
		if (cap !== null) await countModelSpendSoFar(trx, input.userId, input.model);
		await tidy(trx, input.userId);
		await recordAudit(trx, {
			action: 'limits.set_ceiling',
			actorUserId: actor.actorUserId,
			subjectUserId: input.userId,
			provider: input.model.split('/')[0] as Provider,
			ip: actor.ip ?? null,
			details: {
				model: input.model,
				modelDailyCapMicros: cap,
				'modelDailyCapMicros.before': before.admin_daily_cap_micros
			}
		});
	});
}
