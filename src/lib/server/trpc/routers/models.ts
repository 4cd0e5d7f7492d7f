import { z } from 'zod';
import { fallbackPreferences, listModelsForUser, setFallbackPreference } from '$lib/server/routing';
import { fallbackNotice } from '$lib/server/keys';
import { protectedProcedure, router } from '../trpc';

const anyObject = z.record(z.unknown());

export const modelsRouter = router({
	/** Every model with the key that would serve it for the caller (`user`, `app`, `unavailable`) and its price. */
	list: protectedProcedure.query(({ ctx }) => listModelsForUser(ctx.services.db, ctx.services.config, ctx.user.id)),
	/** Per provider: may the app's key answer when the caller's own key cannot? */
	preferences: protectedProcedure.query(({ ctx }) => fallbackPreferences(ctx.services.db, ctx.user.id)),
	setFallback: protectedProcedure.input(anyObject).mutation(async ({ ctx, input }) => {
		const saved = await setFallbackPreference(ctx.services.db, ctx.user.id, input);
		return { ...saved, notice: fallbackNotice(saved) };
	})
});
