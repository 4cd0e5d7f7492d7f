import { listNotifications, listNotificationsInput, markRead, markReadInput } from '$lib/server/notifications';
import { protectedProcedure, router } from '../trpc';

export const notificationsRouter = router({
	/** The caller's notifications, newest first. */
	list: protectedProcedure
		.input(listNotificationsInput.optional())
		.query(({ ctx, input }) => listNotifications(ctx.services.db, ctx.user.id, input ?? {})),
	/** Marks some ({ids}) or all ({all: true}) of the caller's notifications read. */
	markRead: protectedProcedure
		.input(markReadInput)
		.mutation(({ ctx, input }) => markRead(ctx.services.db, ctx.user.id, input))
});
