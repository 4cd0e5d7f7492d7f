import type { Kysely } from 'kysely';
import type { Config } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import type { Logger } from '$lib/server/log';
import { fetchOpenRouterModels } from '$lib/server/providers';
import { applyStoredCatalog, learnOpenRouterList } from './live';
import { appListFetchedAt, latestListChange, loadAppModelRules, loadStoredLists, saveAppModelList } from './store';

export interface CatalogDeps {
	db: Kysely<Database>;
	config: Pick<Config, 'baseUrls'>;
	log: Pick<Logger, 'info' | 'warn'>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** How often an instance looks for lists another instance stored (one cheap query). */
const RELOAD_CHECK_MS = 60_000;

/** Loads the stored lists and rules into this process's catalog. */
export async function loadCatalog(db: Kysely<Database>): Promise<void> {
	const [lists, rules] = await Promise.all([loadStoredLists(db), loadAppModelRules(db)]);
	applyStoredCatalog(lists, rules);
}

/**
 * Reads OpenRouter's list and stores it for every instance. A failure keeps the last list (the
 * catalog goes on serving it) and is logged; it never throws.
 */
export async function refreshAppModels(deps: CatalogDeps, signal?: AbortSignal): Promise<boolean> {
	try {
		const models = await fetchOpenRouterModels(deps.config.baseUrls.openrouter, signal);
		await saveAppModelList(deps.db, models);
		learnOpenRouterList(models);
		deps.log.info({ models: models.length }, 'OpenRouter model list refreshed');
		return true;
	} catch (error) {
		deps.log.warn(
			{ reason: error instanceof Error ? error.message : String(error) },
			'OpenRouter model list not refreshed; keeping the last one'
		);
		return false;
	}
}

/**
 * Start-up and background work: load what is stored, refresh OpenRouter's list when it is a day
 * old (or missing), then daily; pick up lists other instances stored. Users' key lists refresh
 * with the daily key check (keys/revalidate) and when a key is added or replaced.
 */
export function startCatalogRefresh(deps: CatalogDeps, options: { dayMs?: number; reloadMs?: number } = {}) {
	const controller = new AbortController();
	let mark = '';
	let lastRefresh = 0;
	const tick = async () => {
		try {
			const now = await latestListChange(deps.db);
			if (now !== mark) {
				mark = now;
				await loadCatalog(deps.db);
			}
			const fetchedAt = await appListFetchedAt(deps.db);
			const age = fetchedAt ? Date.now() - fetchedAt.getTime() : Infinity;
			if (age >= (options.dayMs ?? DAY_MS) && Date.now() - lastRefresh >= RELOAD_CHECK_MS) {
				lastRefresh = Date.now();
				if (await refreshAppModels(deps, controller.signal)) mark = await latestListChange(deps.db);
			}
		} catch (error) {
			deps.log.warn({ reason: error instanceof Error ? error.message : String(error) }, 'catalog reload failed');
		}
	};
	const first = tick();
	const timer = setInterval(() => void tick(), options.reloadMs ?? RELOAD_CHECK_MS);
	timer.unref();
	return {
		ready: first,
		async stop() {
			clearInterval(timer);
			controller.abort();
			await first.catch(() => {});
		}
	};
}
