import { createCallerFactory, router } from './trpc';
import { authRouter } from './routers/auth';

export const appRouter = router({
	auth: authRouter
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
export { createContext, type Context, type SessionUser } from './context';
export { appErrorOf } from './errors';
