import type { Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import { PROVIDER_IDS } from '$lib/providers';
import { recordAudit } from '$lib/server/audit';
import type { Database, PriceOverridesTable } from '$lib/server/db';
import { AppError } from '$lib/server/errors';
import { parseInput } from '$lib/server/validation';
import { learnPriceOverrides } from './live';
import type { ModelRates, PriceOverrides } from './prices';

// An admin's price for a model wins over the library and OpenRouter's list: for a price the
// library does not know yet, or a negotiated rate. Rates in micro-dollars per million tokens.

const rate = z.number().int('Whole micro-dollars per million tokens.').min(0).max(1_000_000_000_000);

export const priceOverrideInput = z.object({
	provider: z.enum(PROVIDER_IDS),
	providerModel: z.string().trim().min(1).max(200),
	input: rate,
	output: rate,
	cacheRead: rate.nullable().optional(),
	cacheWrite: rate.nullable().optional()
});
export const priceOverrideKey = priceOverrideInput.pick({ provider: true, providerModel: true });

export interface PriceOverrideView extends ModelRates {
	provider: string;
	providerModel: string;
	updatedAt: Date;
}

type OverrideRow = Selectable<PriceOverridesTable>;

function ratesOf(row: OverrideRow): ModelRates {
	return {
		input: Number(row.input_micros_per_mtok),
		output: Number(row.output_micros_per_mtok),
		...(row.cache_read_micros_per_mtok === null ? {} : { cacheRead: Number(row.cache_read_micros_per_mtok) }),
		...(row.cache_write_micros_per_mtok === null ? {} : { cacheWrite: Number(row.cache_write_micros_per_mtok) })
	};
}

export async function loadPriceOverrides(db: Kysely<Database>): Promise<PriceOverrides> {
	const rows = await db.selectFrom('price_overrides').selectAll().execute();
	return new Map(rows.map((row) => [`${row.provider}/${row.provider_model}`, ratesOf(row)]));
}

export async function listPriceOverrides(db: Kysely<Database>): Promise<PriceOverrideView[]> {
	const rows = await db
		.selectFrom('price_overrides')
		.selectAll()
		.orderBy('provider')
		.orderBy('provider_model')
		.execute();
	return rows.map((row) => ({
		provider: row.provider,
		providerModel: row.provider_model,
		...ratesOf(row),
		updatedAt: row.updated_at
	}));
}

type Actor = { actorUserId: string; ip: string | null };

/** Sets (or replaces) one override, audited; this instance prices with it at once. */
export async function setPriceOverride(
	db: Kysely<Database>,
	input: unknown,
	actor: Actor
): Promise<PriceOverrideView[]> {
	const o = parseInput(priceOverrideInput, input);
	const values = {
		input_micros_per_mtok: o.input,
		output_micros_per_mtok: o.output,
		cache_read_micros_per_mtok: o.cacheRead ?? null,
		cache_write_micros_per_mtok: o.cacheWrite ?? null,
		updated_by: actor.actorUserId
	};
	await db.transaction().execute(async (trx) => {
		await trx
			.insertInto('price_overrides')
			.values({ provider: o.provider, provider_model: o.providerModel, ...values })
			.onConflict((oc) => oc.columns(['provider', 'provider_model']).doUpdateSet({ ...values, updated_at: new Date() }))
			.execute();
		await recordAudit(trx, {
			action: 'catalog.set_price',
			actorUserId: actor.actorUserId,
			ip: actor.ip,
			provider: o.provider,
			details: {
				model: o.providerModel,
				input: o.input,
				output: o.output,
				cacheRead: o.cacheRead ?? null,
				cacheWrite: o.cacheWrite ?? null
			}
		});
	});
	learnPriceOverrides(await loadPriceOverrides(db));
	return listPriceOverrides(db);
}

export async function deletePriceOverride(
	db: Kysely<Database>,
	input: unknown,
	actor: Actor
): Promise<PriceOverrideView[]> {
	const o = parseInput(priceOverrideKey, input);
	await db.transaction().execute(async (trx) => {
		const gone = await trx
			.deleteFrom('price_overrides')
			.where('provider', '=', o.provider)
			.where('provider_model', '=', o.providerModel)
			.executeTakeFirst();
		if (gone.numDeletedRows === 0n)
			throw new AppError('not_found', `No price override for ${o.provider}/${o.providerModel}.`);
		await recordAudit(trx, {
			action: 'catalog.delete_price',
			actorUserId: actor.actorUserId,
			ip: actor.ip,
			provider: o.provider,
			details: { model: o.providerModel }
		});
	});
	learnPriceOverrides(await loadPriceOverrides(db));
	return listPriceOverrides(db);
}
