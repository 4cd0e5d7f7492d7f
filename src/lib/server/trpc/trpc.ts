import { initTRPC, TRPCError } from '@trpc/server';
import { requestLog, type Context } from './context';
import { appErrorOf, toTRPCError } from './errors';
import { transformer } from './transformer';
import { auditForbidden } from '$lib/server/admin';

const t = initTRPC.context<Context>().create({
	transformer,
	isDev: false,
	errorFormatter({ shape, error, ctx }) {
		const appError = appErrorOf(error);
		return {
			code: shape.code,
			message: appError.message,
			data: {
				code: shape.data.code,
				httpStatus: appError.status,
				path: shape.data.path,
				appCode: appError.code,
				reason: appError.reason ?? null,
				retryAfterSeconds: appError.retryAfterSeconds ?? null,
				details: appError.details ?? null,
				requestId: ctx?.requestId ?? null
			}
		};
	}
});

/** Domain functions throw AppError; this turns it into the matching tRPC code, once. */
const mapErrors = t.middleware(async ({ next }) => {
	const result = await next();
	if (!result.ok) {
		const appError = appErrorOf(result.error);
		throw toTRPCError(appError);
	}
	return result;
});

export const router = t.router;
export const middleware = t.middleware;
export const publicProcedure = t.procedure.use(mapErrors);

export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
	if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in to continue.' });
	return next({ ctx: { ...ctx, user: ctx.user } });
});

/** Admins only; a refused attempt is audited as `admin.forbidden` (who, which procedure, from where). */
export const adminProcedure = protectedProcedure.use(async ({ ctx, path, next }) => {
	if (ctx.user.role !== 'admin') {
		await auditForbidden({
			db: ctx.services.db,
			log: requestLog(ctx),
			user: ctx.user,
			path: `/api/trpc/${path}`,
			method: ctx.event?.request.method ?? 'CALL',
			ip: ctx.ip || null
		});
		throw new TRPCError({ code: 'FORBIDDEN', message: 'Only admins can do this.' });
	}
	return next({ ctx });
});

export const createCallerFactory = t.createCallerFactory;
