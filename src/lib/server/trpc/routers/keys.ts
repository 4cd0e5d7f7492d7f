import {
	keyIdInput,
	listKeys,
	removeKey,
	reorderKeys,
	reorderKeysInput,
	setActiveInput,
	setKeyPinned,
	setPinnedInput,
	setExpiryInput,
	setKeyActive,
	setKeyExpiry,
	upsertKey,
	upsertKeyInput,
	validateKey,
	type KeyActor
} from '$lib/server/keys';
import { protectedProcedure, router } from '../trpc';
import type { Context, SessionUser } from '../context';

const actorOf = (ctx: Context & { user: SessionUser }): KeyActor => ({ userId: ctx.user.id, ip: ctx.ip || null });

/**
 * The signed-in user's provider keys. Every query is scoped to `ctx.user.id` in the query itself,
 * so another user's key id answers NOT_FOUND; responses carry metadata only, never key material.
 */
export const keysRouter = router({
	list: protectedProcedure.query(({ ctx }) => listKeys(ctx.services.db, ctx.user.id)),
	/** Validates live first: a rejected key is a 400 and nothing is stored. */
	upsert: protectedProcedure
		.input(upsertKeyInput)
		.mutation(({ ctx, input }) => upsertKey(ctx.services, actorOf(ctx), input)),
	remove: protectedProcedure
		.input(keyIdInput)
		.mutation(({ ctx, input }) => removeKey(ctx.services, actorOf(ctx), input)),
	validate: protectedProcedure
		.input(keyIdInput)
		.mutation(({ ctx, input }) => validateKey(ctx.services, actorOf(ctx), input)),
	setActive: protectedProcedure
		.input(setActiveInput)
		.mutation(({ ctx, input }) => setKeyActive(ctx.services, actorOf(ctx), input)),
	/** The provider's keys in the order to try them (every key once). */
	reorder: protectedProcedure
		.input(reorderKeysInput)
		.mutation(({ ctx, input }) => reorderKeys(ctx.services, actorOf(ctx), input)),
	/** "Always use this key": routing never goes past it to a later key or the app key. */
	setPinned: protectedProcedure
		.input(setPinnedInput)
		.mutation(({ ctx, input }) => setKeyPinned(ctx.services, actorOf(ctx), input)),
	/** Sets, changes or clears (`expiresIn: 'never'`) a key's expiry; past an expiry it is never used. */
	setExpiry: protectedProcedure
		.input(setExpiryInput)
		.mutation(({ ctx, input }) => setKeyExpiry(ctx.services, actorOf(ctx), input))
});
