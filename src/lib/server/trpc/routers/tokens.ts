import {
	createAccessToken,
	createAccessTokenInput,
	listAccessTokens,
	revokeAccessToken,
	revokeAccessTokenInput
} from '$lib/server/auth';
import { protectedProcedure, router } from '../trpc';

/** Personal access tokens of the signed-in user; every query is scoped to `ctx.user.id`. */
export const tokensRouter = router({
	/** Returns the token itself this once; it is stored only as a hash. */
	create: protectedProcedure
		.input(createAccessTokenInput)
		.mutation(({ ctx, input }) => createAccessToken(ctx.services.db, ctx.user.id, input, { ip: ctx.ip })),
	list: protectedProcedure.query(({ ctx }) => listAccessTokens(ctx.services.db, ctx.user.id)),
	revoke: protectedProcedure
		.input(revokeAccessTokenInput)
		.mutation(({ ctx, input }) => revokeAccessToken(ctx.services.db, ctx.user.id, input, { ip: ctx.ip }))
});
