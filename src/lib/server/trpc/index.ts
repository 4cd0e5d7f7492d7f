import { createCallerFactory, router } from './trpc';
import { authRouter } from './routers/auth';

// One router per domain; each line is owned by that domain's folder.
export const appRouter = router({
	auth: authRouter
	// keys
	// models
	// usage
	// limits
	// tokens
	// admin
	// conversations
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
export { createContext, type Context, type SessionUser } from './context';
export { appErrorOf } from './errors';
