import { createCallerFactory, router } from './trpc';
import { alertsRouter } from './routers/alerts';
import { authRouter } from './routers/auth';
import { keysRouter } from './routers/keys';
import { limitsRouter } from './routers/limits';
import { notificationsRouter } from './routers/notifications';
import { adminRouter } from './routers/admin';
import { tokensRouter } from './routers/tokens';
import { conversationsRouter } from './routers/conversations';
import { modelsRouter } from './routers/models';
import { usageRouter } from './routers/usage';

// One router per domain.
export const appRouter = router({
	auth: authRouter,
	conversations: conversationsRouter,
	keys: keysRouter,
	models: modelsRouter,
	usage: usageRouter,
	limits: limitsRouter,
	notifications: notificationsRouter,
	tokens: tokensRouter,
	alerts: alertsRouter,
	admin: adminRouter
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
export { createContext, type Context, type SessionUser } from './context';
export { appErrorOf } from './errors';
