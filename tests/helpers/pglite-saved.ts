import { PGlite } from '@electric-sql/pglite';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pgliteParsers, type SchemaFiles } from '$lib/server/db';

// A new PGlite runs initdb, 3–7 s on the CI machine; one started from a saved data directory takes
// ~1.5 s. So test databases start from a save: `empty` (initdb only) or `migrated` by this
// checkout's migrations. A save is named by what made it, so any change to those makes a new one.

export type SavedState = 'empty' | 'migrated';

const ROOT = resolve(import.meta.dirname, '../..');

/** A folder of this user's own (0700) in the shared temp folder. */
function savesDir(): string {
	const dir = join(tmpdir(), `latchkey-pglite-saves-${process.getuid?.() ?? 'user'}`);
	mkdirSync(dir, { recursive: true, mode: 0o700 });
	return dir;
}

/** `files` are what a `migrated` save is migrated by (the caller migrates with these very files). */
function saveName(state: SavedState, files: SchemaFiles): string {
	const hash = createHash('sha256');
	hash.update(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json')));
	if (state === 'migrated') {
		hash.update(readFileSync(join(ROOT, 'src/lib/server/db/migrate.ts')));
		for (const file of [...files.migrations, ...files.definitions]) hash.update(`${file.name}\0${file.sql}\0`);
	}
	return join(savesDir(), `${state}-${hash.digest('hex').slice(0, 16)}.tar`);
}

/**
 * A PGlite started from the save for `state`, or a fresh one (initdb) with `save`, to be called
 * once it is in that state (for `migrated`: migrated by `files`).
 */
export async function startPGlite(
	state: SavedState,
	files: SchemaFiles
): Promise<{ pglite: PGlite; save: (() => Promise<void>) | null }> {
	const file = saveName(state, files);
	let tarball: Blob;
	try {
		// Read whole: another worker may rename a new save over this one meanwhile.
		tarball = new Blob([new Uint8Array(readFileSync(file))]);
	} catch {
		const pglite = await PGlite.create({ parsers: pgliteParsers });
		return { pglite, save: () => savePGlite(pglite, file) };
	}
	return { pglite: await PGlite.create({ parsers: pgliteParsers, loadDataDir: tarball }), save: null };
}

/** Writes `pglite`'s data directory to `file`; test files in other workers may save at once. */
async function savePGlite(pglite: PGlite, file: string): Promise<void> {
	const dump = await pglite.dumpDataDir('none');
	const partial = `${file}.${randomBytes(4).toString('hex')}`;
	writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
	renameSync(partial, file);
	// Saves for older migrations (42 MB each) go after a while; one still in use is made again.
	const dir = savesDir();
	for (const name of readdirSync(dir)) {
		const path = join(dir, name);
		if (path === file) continue;
		const stat = statSync(path, { throwIfNoEntry: false });
		if (stat && Date.now() - stat.mtimeMs > 3_600_000) rmSync(path, { force: true });
	}
}
