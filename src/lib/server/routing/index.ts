export { startChat } from './run';
export { estimateChat, DEFAULT_MAX_OUTPUT_TOKENS, type ChatEstimate } from './estimate';
export {
	prepareChat,
	ownKeyAdmission,
	refuseAfterPrincipal,
	type Principal,
	type PreparedChat,
	type RoutingFacts
} from './prepare';
export type { ChatDeps, ChatRequest, ChatSession, SessionEvent, FinalUsage, RoutingHooks } from './types';
export { ActiveChats, SERVER_SHUTDOWN } from './active';
export {
	planRoute,
	ownKeyProviders,
	type RoutePlan,
	type RouteAttempt,
	type UserKeyState,
	type PlanInput,
	type RoutableModel
} from './plan';
export { fallbackPreferences, setFallbackPreference } from './preferences';
export type { FallbackReason } from './messages';
export { listModelsForUser, type ModelOption } from './models';
