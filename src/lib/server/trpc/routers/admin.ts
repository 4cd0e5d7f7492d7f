import { adminSetLimitsInput, setAdminLimits } from '$lib/server/limits';
import { adminProcedure, router } from '../trpc';

export const adminRouter = router({
	/** Sets a user's limit ceilings for one provider (null clears one); audited. Unknown user: NOT_FOUND. */
	setLimits: adminProcedure.input(adminSetLimitsInput).mutation(async ({ ctx, input }) => {
		const { limits } = await setAdminLimits(ctx.services.db, ctx.services.config.limitDefaults, input, {
			actorUserId: ctx.user.id,
			ip: ctx.ip
		});
		return limits;
	})
});
