export {
	startChat,
	estimateChat,
	ownKeyAdmission,
	abandonOwnKeyAdmission,
	finalUsage,
	DEFAULT_MAX_OUTPUT_TOKENS
} from './run';
export type { ChatDeps, ChatRequest, ChatEstimate, ChatSession, SessionEvent, FinalUsage, RoutingHooks } from './run';
export { ActiveChats, SERVER_SHUTDOWN } from './active';
export {
	routingFactsOf,
	routingFactsOfRows,
	fallbackOffQuery,
	withOwnKeyAdmission,
	type RoutingFacts,
	type FactsAndAdmission,
	type OwnKeyAdmitSpec
} from './facts';
export {
	planRoute,
	type RoutePlan,
	type RouteAttempt,
	type UserKeyState,
	type PlanInput,
	type RoutableModel
} from './plan';
export { fallbackPreferences, setFallbackPreference } from './preferences';
export type { FallbackReason } from './messages';
export { listModelsForUser, type ModelOption } from './models';
