// Types only: erased from the browser bundle.
import type { EffectiveLimits, SourceLimits } from '$lib/server/limits';
import type { DailyUsage, ModelUsage } from '$lib/server/usage';

export type { DailyUsage, EffectiveLimits, ModelUsage, SourceLimits };
