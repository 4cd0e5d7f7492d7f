import type { Kysely } from 'kysely';
import type { Config } from '$lib/server/config';
import type { Database } from '$lib/server/db';
import type { Logger } from '$lib/server/log';
import { fetchOpenRouterModels } from '$lib/server/providers';
import { loadPriceOverrides } from './overrides';
import {
	applyChangedLists,
	applyStoredCatalog,
	learnAppModelRules,
	learnOpenRouterList,
	learnPriceOverrides
} from './live';
import { appListFetchedAt, loadAppModelRules, loadStoredLists, rulesMark, saveAppModelList } from './store';

export interface CatalogDeps {
	db: Kysely<Database>;
	config: Pick<Config, 'baseUrls'>;
	log: Pick<Logger, 'info' | 'warn'>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** How often an instance looks for lists another instance stored (one cheap query). */
const RELOAD_CHECK_MS = 60_000;
/** How often an instance reloads every list (drops the lists of keys removed meanwhile). */
const FULL_RELOAD_MS = 6 * 60 * 60 * 1000;

/** Loads the stored lists and rules into this process's catalog. */
export async function loadCatalog(db: Kysely<Database>): Promise<void> {
	const [lists, rules, overrides] = await Promise.all([
		loadStoredLists(db),
		loadAppModelRules(db),
		loadPriceOverrides(db)
	]);
	applyStoredCatalog(lists, rules, overrides);
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
 * old (or missing), then daily; once a minute, merge the lists other instances stored since (only
 * those rows), and reload everything every few hours (keys removed meanwhile drop out). Users' key
 * lists refresh with the daily key check (keys/revalidate) and when a key is added or replaced.
 */
export function startCatalogRefresh(
	deps: CatalogDeps,
	options: { dayMs?: number; reloadMs?: number; fullReloadMs?: number } = {}
) {
	const controller = new AbortController();
	let rules = '';
	let seenUntil: Date | null = null;
	let fullAt = 0;
	let lastRefresh = 0;
	const tick = async () => {
		try {
			// A little overlap: a row committed late with an earlier fetched_at is still seen.
			const since = new Date(Date.now() - 2 * (options.reloadMs ?? RELOAD_CHECK_MS));
			if (!seenUntil || Date.now() - fullAt >= (options.fullReloadMs ?? FULL_RELOAD_MS)) {
				await loadCatalog(deps.db);
				fullAt = Date.now();
				rules = await rulesMark(deps.db);
			} else {
				applyChangedLists(await loadStoredLists(deps.db, seenUntil));
				const mark = await rulesMark(deps.db);
				if (mark !== rules) {
					rules = mark;
					learnAppModelRules(await loadAppModelRules(deps.db));
					learnPriceOverrides(await loadPriceOverrides(deps.db));
				}
			}
			seenUntil = since;
			const fetchedAt = await appListFetchedAt(deps.db);
			const age = fetchedAt ? Date.now() - fetchedAt.getTime() : Infinity;
			if (age >= (options.dayMs ?? DAY_MS) && Date.now() - lastRefresh >= RELOAD_CHECK_MS) {
				lastRefresh = Date.now();
				await refreshAppModels(deps, controller.signal);
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
