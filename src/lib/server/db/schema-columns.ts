import type { ColumnType } from 'kysely';

// Column shapes shared by the schema files.
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
