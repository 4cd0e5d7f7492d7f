import { z } from 'zod';
import { changePassword, signIn, signOut, signUp, setSessionCookie, clearSessionCookie } from '$lib/server/auth';
import { protectedProcedure, publicProcedure, router } from '../trpc';
import type { Context } from '../context';

// Inputs are validated inside the auth domain (the same schemas serve the HTML forms);
// here they are only required to be objects so tRPC's own parsing stays uniform.
const anyObject = z.record(z.unknown());

function setCookie(ctx: Context, session: Parameters<typeof setSessionCookie>[2]) {
	if (!ctx.event) return;
	setSessionCookie(ctx.services.lucia, ctx.event.cookies, session, ctx.event.url.protocol === 'https:');
}

export const authRouter = router({
	signUp: publicProcedure.input(anyObject).mutation(async ({ ctx, input }) => {
		const { user, session } = await signUp(ctx.services, input, { ip: ctx.ip });
		setCookie(ctx, session);
		return user;
	}),
	signIn: publicProcedure.input(anyObject).mutation(async ({ ctx, input }) => {
		const { user, session } = await signIn(ctx.services, input, { ip: ctx.ip });
		setCookie(ctx, session);
		return user;
	}),
	signOut: publicProcedure.mutation(async ({ ctx }) => {
		if (ctx.sessionId) await signOut(ctx.services, ctx.sessionId);
		if (ctx.event) clearSessionCookie(ctx.services.lucia, ctx.event.cookies, ctx.event.url.protocol === 'https:');
		return { signedOut: true };
	}),
	me: protectedProcedure.query(({ ctx }) => ({ id: ctx.user.id, email: ctx.user.email, role: ctx.user.role })),
	/** Ends every other session, revokes every access token, and signs the caller in afresh. */
	changePassword: protectedProcedure.input(anyObject).mutation(async ({ ctx, input }) => {
		const { session, otherSessionsEnded, tokensRevoked } = await changePassword(ctx.services, ctx.user.id, input, {
			currentSessionId: ctx.sessionId,
			ip: ctx.ip
		});
		setCookie(ctx, session);
		return { passwordChanged: true as const, otherSessionsEnded, tokensRevoked };
	})
});
