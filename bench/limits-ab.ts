/**
 * A/B of the limits schema and functions: admit + settle at concurrency 50 over 1,000 users, in two
 * databases, one migrated up to `BENCH_AB_MIGRATED_TO` with the functions as its migrations left
 * them, one to the newest with migrations/functions; slices alternate between the two (A B, then
 * B A), so the machine's drift falls on both alike. Creates and drops its own databases.
 *
 *   npx tsx bench/limits-ab.ts                                  (0025's schema vs the newest)
 *   BENCH_AB_MIGRATED_TO=0024_limits_fast_path BENCH_AB_MODEL=openai/gpt-4o-mini npx tsx bench/limits-ab.ts
 *
 * `BENCH_AB_BEFORE_FUNCTIONS` names a folder of function files for the older side (e.g. an earlier
 * commit's migrations/functions), applied after its migrations: an A/B of a function change.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import {
	connectDatabase,
	migrate,
	readDefinitions,
	readMigrations,
	type DbHandle,
	type SchemaFiles
} from '../src/lib/server/db';
import { admitAndSettle } from './limits-operation';

const baseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** The model the admissions name (routing always names one); empty: none. */
const model = process.env.BENCH_AB_MODEL || null;
/** The older side: the schema and functions as this migration left them. */
const migratedTo = process.env.BENCH_AB_MIGRATED_TO || '0025_checks_as_domains';
/** The older side's function files, if any (otherwise the functions its migrations define). */
const beforeFunctions = process.env.BENCH_AB_BEFORE_FUNCTIONS || null;
const rounds = Number(process.env.BENCH_ROUNDS ?? '4');
const sliceMs = Number(process.env.BENCH_SLICE_MS ?? '3000');

const migrations = readMigrations();
const newest = migrations.at(-1)!;
interface Variant {
	name: string;
	handle: DbHandle;
	userIds: string[];
}

const admin = new pg.Client({ connectionString: baseUrl });
await admin.connect();
const databases: string[] = [];
const handles: DbHandle[] = [];

/** A new database migrated to `files`, and its 1,000 users. */
async function database(files: SchemaFiles): Promise<{ handle: DbHandle; userIds: string[] }> {
	const name = `lk_ab_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
	await admin.query(`create database "${name}"`);
	databases.push(name);
	const url = new URL(baseUrl);
	url.pathname = `/${name}`;
	const handle = await connectDatabase({
		databaseUrl: url.toString(),
		poolSize: 10,
		applicationName: 'latchkey-bench'
	});
	handles.push(handle);
	await migrate(handle, files);
	const users = await handle.db
		.insertInto('users')
		.values(Array.from({ length: 1_000 }, (_, i) => ({ email: `ab-${i}@example.com`, password_hash: 'not used' })))
		.returning('id')
		.execute();
	return { handle, userIds: users.map((u) => u.id) };
}

const variants: Variant[] = [];
try {
	const upTo = migrations.findIndex((m) => m.name === migratedTo);
	// Admission with 13 arguments (what `admit` calls) exists from 0022 on.
	const first = migrations.findIndex((m) => m.name === '0022_period_model_caps');
	if (upTo < first || upTo === migrations.length - 1) {
		throw new Error(`BENCH_AB_MIGRATED_TO: name a migration from 0022 on, before the newest (${newest.name})`);
	}
	const before = await database({
		migrations: migrations.slice(0, upTo + 1),
		definitions: beforeFunctions ? readDefinitions(beforeFunctions) : []
	});
	const after = await database({ migrations, definitions: readDefinitions() });
	variants.push({ name: `migrated to ${migratedTo}${beforeFunctions ? ' + functions' : ''}`, ...before });
	variants.push({ name: `newest (${newest.name})`, ...after });
	const slice = async ({ handle, userIds }: Variant, ms: number) => {
		let done = 0;
		const end = performance.now() + ms;
		await Promise.all(
			Array.from({ length: 50 }, async () => {
				while (performance.now() < end) {
					await admitAndSettle(handle.db, userIds[Math.floor(Math.random() * userIds.length)]!, model);
					done += 1;
				}
			})
		);
		return done;
	};
	console.log(`limits A/B: admit + settle, 1,000 users, concurrency 50, model ${model ?? 'none'}`);
	console.log(
		`load average at start: ${loadavg()
			.map((n) => n.toFixed(2))
			.join(' ')}`
	);
	const totals = new Map<string, number>();
	for (let round = 0; round < rounds; round++) {
		// A B, then B A: a machine getting busier during the run falls on both alike.
		for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
			await slice(variant, 500);
			totals.set(variant.name, (totals.get(variant.name) ?? 0) + (await slice(variant, sliceMs)));
		}
	}
	for (const [variant, done] of totals) {
		console.log(`${variant.padEnd(36)} ${((done * 1000) / (rounds * sliceMs)).toFixed(0).padStart(6)} admit+settle/s`);
	}
	console.log(
		`load average at end: ${loadavg()
			.map((n) => n.toFixed(2))
			.join(' ')}`
	);
	console.log(
		'repeat: npx tsx bench/limits-ab.ts   (BENCH_AB_MIGRATED_TO, BENCH_AB_BEFORE_FUNCTIONS, BENCH_AB_MODEL, BENCH_ROUNDS, BENCH_SLICE_MS, BENCH_DATABASE_URL)'
	);
} finally {
	for (const handle of handles) await handle.close().catch(() => undefined);
	for (const name of databases) await admin.query(`drop database if exists "${name}" with (force)`);
	await admin.end();
}
