import type { ColumnType, Generated } from 'kysely';
import type { ProviderId } from '$lib/providers';

// The catalog's tables (0014, 0015), apart from schema.ts to keep each file readable.

export interface ModelListsTable {
	id: Generated<string>;
	key_id: string | null;
	provider: ProviderId;
	/** ListedModel[] as JSON. */
	models: ColumnType<unknown, string, string>;
	fetched_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface AppModelRulesTable {
	position: number;
	effect: 'allow' | 'deny';
	pattern: string;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
	updated_by: string | null;
}

/** An admin's price for a model (0014); rates in micro-dollars per million tokens. */
export interface PriceOverridesTable {
	provider: ProviderId;
	provider_model: string;
	input_micros_per_mtok: number;
	output_micros_per_mtok: number;
	cache_read_micros_per_mtok: number | null;
	cache_write_micros_per_mtok: number | null;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
	updated_by: string | null;
}

export interface CatalogTables {
	model_lists: ModelListsTable;
	app_model_rules: AppModelRulesTable;
	price_overrides: PriceOverridesTable;
}
