import { z } from 'zod';
import {
	deleteAllConversations,
	deleteConversation,
	getConversation,
	listConversations,
	renameConversation,
	searchConversations,
	setSystemPrompt
} from '$lib/server/conversations';
import { protectedProcedure, router } from '../trpc';

// Inputs are validated in the domain (clear messages, one place); here they only need to be objects.
const anyObject = z.record(z.unknown());

export const conversationsRouter = router({
	list: protectedProcedure.query(({ ctx }) => listConversations(ctx.services.db, ctx.user.id)),
	get: protectedProcedure
		.input(anyObject)
		.query(({ ctx, input }) => getConversation(ctx.services.db, ctx.user.id, input)),
	search: protectedProcedure
		.input(anyObject)
		.query(({ ctx, input }) => searchConversations(ctx.services.db, ctx.user.id, input)),
	rename: protectedProcedure
		.input(anyObject)
		.mutation(({ ctx, input }) => renameConversation(ctx.services.db, ctx.user.id, input)),
	setSystemPrompt: protectedProcedure
		.input(anyObject)
		.mutation(({ ctx, input }) => setSystemPrompt(ctx.services.db, ctx.user.id, input)),
	remove: protectedProcedure
		.input(anyObject)
		.mutation(({ ctx, input }) => deleteConversation(ctx.services.db, ctx.user.id, input)),
	removeAll: protectedProcedure
		.input(anyObject)
		.mutation(({ ctx, input }) => deleteAllConversations(ctx.services.db, ctx.user.id, input))
});
