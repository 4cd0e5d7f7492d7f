import type { Kysely } from 'kysely';
import { z } from 'zod';
import { recordAudit } from '$lib/server/audit';
import type { Database } from '$lib/server/db';
import { parseInput } from '$lib/server/validation';
import { appAllows, type AppModelRule } from './build';
import { appModelRules, learnAppModelRules, listModels } from './live';
import { replaceAppModelRules } from './store';

/** The admin's choice of what the app key may serve: ordered allow/deny patterns, first match wins. */
export const appModelRulesInput = z.object({
	rules: z
		.array(
			z.object({
				effect: z.enum(['allow', 'deny']),
				pattern: z
					.string()
					.trim()
					.regex(
						/^[A-Za-z0-9*._:/-]{1,200}$/,
						'Use model ids with * as a wildcard, e.g. openrouter/* or openai/gpt-5*.'
					)
			})
		)
		.max(200, 'At most 200 rules.')
});

export interface AppModelRulesView {
	rules: readonly AppModelRule[];
	/** How many catalog models the app key may serve under these rules, of how many it could. */
	servable: number;
	candidates: number;
}

export function appModelRulesView(rules: readonly AppModelRule[] = appModelRules()): AppModelRulesView {
	const candidates = listModels().filter((m) => m.openRouterId !== null && m.price !== null);
	return { rules, servable: candidates.filter((m) => appAllows(rules, m.id)).length, candidates: candidates.length };
}

/** Replaces the rules, audited; this instance serves them at once, others within a minute. */
export async function setAppModelRules(
	db: Kysely<Database>,
	input: unknown,
	actor: { actorUserId: string; ip: string | null }
): Promise<AppModelRulesView> {
	const { rules } = parseInput(appModelRulesInput, input);
	await db.transaction().execute(async (trx) => {
		await replaceAppModelRules(trx, rules, actor.actorUserId);
		await recordAudit(trx, {
			action: 'catalog.set_rules',
			actorUserId: actor.actorUserId,
			ip: actor.ip,
			details: { rules: rules.map((r) => `${r.effect} ${r.pattern}`) }
		});
	});
	learnAppModelRules(rules);
	return appModelRulesView(rules);
}
