import { randomUUID } from 'node:crypto';
import type { UsageRecord } from '$lib/server/usage';

/** A successful own-key OpenAI request of 100 + 50 tokens; tests override what they are about. */
export function usageRecord(userId: string, overrides: Partial<UsageRecord> = {}): UsageRecord {
	return {
		requestId: `req-${randomUUID()}`,
		userId,
		provider: 'openai',
		model: 'openai/gpt-4o-mini',
		keySource: 'user',
		servedBy: 'openai',
		api: 'web',
		success: true,
		errorCode: null,
		fallbackReason: null,
		promptTokens: 100,
		completionTokens: 50,
		costMicros: 45,
		estimated: false,
		latencyMs: 120,
		ttftMs: 40,
		...overrides
	};
}
