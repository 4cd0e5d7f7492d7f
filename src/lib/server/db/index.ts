export {
	connectDatabase,
	pgliteParsers,
	statementNamer,
	type DbHandle,
	type DatabaseKind,
	type ConnectOptions
} from './connect';
export {
	migrate,
	readMigrations,
	readDefinitions,
	readSchemaFiles,
	MigrationError,
	type Definition,
	type Migration,
	type SchemaFiles,
	type MigrationResult
} from './migrate';
export type * from './schema';
export type * from './schema-catalog';
export type * from './schema-limits';
export type * from './schema-alerts';
export { isUniqueViolation, isDatabaseUnavailable } from './errors';
export { lastUseIsStale } from './last-use';
