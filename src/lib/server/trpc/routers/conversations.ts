import { z } from 'zod';
import { deleteConversation, getConversation, listConversations, renameConversation } from '$lib/server/conversations';
import { protectedProcedure, router } from '../trpc';

// Inputs are validated in the domain (clear messages, one place); here they only need to be objects.
const anyObject = z.record(z.unknown());

export const conversationsRouter = router({
	list: protectedProcedure.query(({ ctx }) => listConversations(ctx.services.db, ctx.user.id)),
	get: protectedProcedure
		.input(anyObject)
		.query(({ ctx, input }) => getConversation(ctx.services.db, ctx.user.id, input)),
	rename: protectedProcedure
		.input(anyObject)
		.mutation(({ ctx, input }) => renameConversation(ctx.services.db, ctx.user.id, input)),
	remove: protectedProcedure
		.input(anyObject)
		.mutation(({ ctx, input }) => deleteConversation(ctx.services.db, ctx.user.id, input))
});
