import type { ColumnType, Generated } from 'kysely';
import type { ProviderId } from '$lib/providers';

// The catalog's tables (0015), apart from schema.ts to keep each file readable.

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

export interface CatalogTables {
	model_lists: ModelListsTable;
	app_model_rules: AppModelRulesTable;
}
