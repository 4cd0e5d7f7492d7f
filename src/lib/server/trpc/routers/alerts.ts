import { z } from 'zod';
import {
	getAlertSettings,
	listDeliveries,
	listDeliveriesInput,
	queueTestDelivery,
	removeWebhook,
	rotateWebhookSecret,
	setEmailAlerts,
	setEmailInput,
	setWebhook,
	setWebhookInput
} from '$lib/server/alerts';
import { protectedProcedure, router } from '../trpc';

const noInput = z.undefined();

/** The caller's alert channels (webhook, e-mail) and their delivery log; scoped to `ctx.user.id`. */
export const alertsRouter = router({
	get: protectedProcedure.query(({ ctx }) => getAlertSettings(ctx.services, ctx.user.id)),
	/** Returns the signing secret this once when one is made (first address, or after removal). */
	setWebhook: protectedProcedure
		.input(setWebhookInput)
		.mutation(({ ctx, input }) => setWebhook(ctx.services, ctx.user.id, input)),
	/** A new signing secret, returned this once; the old one stops signing at once. */
	rotateSecret: protectedProcedure.input(noInput).mutation(({ ctx }) => rotateWebhookSecret(ctx.services, ctx.user.id)),
	removeWebhook: protectedProcedure.input(noInput).mutation(async ({ ctx }) => {
		await removeWebhook(ctx.services.db, ctx.user.id);
		return { removed: true };
	}),
	setEmail: protectedProcedure
		.input(setEmailInput)
		.mutation(({ ctx, input }) => setEmailAlerts(ctx.services, ctx.user.id, input)),
	/** Queues a test alert on each configured channel; see `deliveries` for how it went. */
	test: protectedProcedure.input(noInput).mutation(({ ctx }) => queueTestDelivery(ctx.services.db, ctx.user.id)),
	deliveries: protectedProcedure
		.input(listDeliveriesInput.optional())
		.query(({ ctx, input }) => listDeliveries(ctx.services.db, ctx.user.id, input ?? {}))
});
