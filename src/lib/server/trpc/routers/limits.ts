import {
	getEffectiveLimits,
	setLimitsInput,
	setModelCapInput,
	setUserLimits,
	setUserModelCap
} from '$lib/server/limits';
import { protectedProcedure, router } from '../trpc';

export const limitsRouter = router({
	/** The caller's limits in force, usage against them, reset times, admin ceilings and paused state. */
	get: protectedProcedure.query(({ ctx }) =>
		getEffectiveLimits(ctx.services.db, ctx.services.config.limitDefaults, ctx.user.id)
	),
	/** Lower (or clear) the caller's own limits for one provider; raising above the ceiling is a 400. */
	set: protectedProcedure
		.input(setLimitsInput)
		.mutation(({ ctx, input }) =>
			setUserLimits(ctx.services.db, ctx.services.config.limitDefaults, ctx.user.id, input)
		),
	/** Set (or with null remove) the caller's daily cap for one model; above an admin's ceiling is a 400. */
	setModelCap: protectedProcedure.input(setModelCapInput).mutation(async ({ ctx, input }) => {
		await setUserModelCap(ctx.services.db, ctx.user.id, input);
		return getEffectiveLimits(ctx.services.db, ctx.services.config.limitDefaults, ctx.user.id);
	})
});
