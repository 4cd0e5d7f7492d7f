import { z } from 'zod';
import { usageDaily, usageSummary } from '$lib/server/usage';
import { protectedProcedure, router } from '../trpc';

const optionalObject = z.record(z.unknown()).optional();

export const usageRouter = router({
	/** Totals per provider and key source, per model, and own-key savings for a period. */
	summary: protectedProcedure
		.input(optionalObject)
		.query(({ ctx, input }) => usageSummary(ctx.services.db, ctx.user.id, input)),
	/** Per UTC day, provider and key source, for the charts. */
	daily: protectedProcedure
		.input(optionalObject)
		.query(({ ctx, input }) => usageDaily(ctx.services.db, ctx.user.id, input))
});
