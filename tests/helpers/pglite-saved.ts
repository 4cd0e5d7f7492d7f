import { PGlite } from '@electric-sql/pglite';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pgliteParsers, readSchemaFiles } from '$lib/server/db';

// A new PGlite runs initdb, 3–7 s on the CI machine; one started from a saved data directory takes
// ~1.5 s. So test databases start from a save: `empty` (initdb only) or `migrated` by this
// checkout's migrations. A save is named by what made it, so any change to those makes a new one.

export type SavedState = 'empty' | 'migrated';

const ROOT = resolve(import.meta.dirname, '../..');

function saveName(state: SavedState): string {
	const hash = createHash('sha256');
	hash.update(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json')));
	if (state === 'migrated') {
		hash.update(readFileSync(join(ROOT, 'src/lib/server/db/migrate.ts')));
		const { migrations, definitions } = readSchemaFiles();
		for (const file of [...migrations, ...definitions]) hash.update(`${file.name}\0${file.sql}\0`);
	}
	return join(tmpdir(), `latchkey-pglite-${state}-${hash.digest('hex').slice(0, 16)}.tar`);
}

/** A PGlite started from the save for `state`; `saved` false: none yet, so a fresh one (initdb). */
export async function startPGlite(state: SavedState): Promise<{ pglite: PGlite; saved: boolean }> {
	let tarball: Blob;
	try {
		// Read whole: another worker may rename a new save over this one meanwhile.
		tarball = new Blob([new Uint8Array(readFileSync(saveName(state)))]);
	} catch {
		return { pglite: await PGlite.create({ parsers: pgliteParsers }), saved: false };
	}
	return { pglite: await PGlite.create({ parsers: pgliteParsers, loadDataDir: tarball }), saved: true };
}

/** Saves `pglite`'s data directory for `state`; test files in other workers may save at once. */
export async function savePGlite(pglite: PGlite, state: SavedState): Promise<void> {
	const file = saveName(state);
	const dump = await pglite.dumpDataDir('none');
	const partial = `${file}.${randomBytes(4).toString('hex')}`;
	writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
	renameSync(partial, file);
	// Saves for older migrations (42 MB each) go after a while; one in use is simply made again.
	const prefix = `latchkey-pglite-${state}-`;
	for (const name of readdirSync(tmpdir())) {
		const path = join(tmpdir(), name);
		if (!name.startsWith(prefix) || name === basename(file)) continue;
		const stat = statSync(path, { throwIfNoEntry: false });
		if (stat && Date.now() - stat.mtimeMs > 3_600_000) rmSync(path, { force: true });
	}
}
