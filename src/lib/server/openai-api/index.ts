export {
	handleChatCompletions,
	handleListModels,
	MAX_BODY_BYTES,
	UNAUTHENTICATED_BODY_BYTES,
	type OpenAiApiContext
} from './handler';
export { parseCompletionRequest, requireKnownModel, completionRequestSchema, type CompletionRequest } from './request';
export {
	completionMeta,
	completionBody,
	chunkBody,
	contentChunkWriter,
	modelListBody,
	usageBody,
	openAiFinishReason,
	type CompletionMeta,
	type CompletionBody,
	type ChunkBody,
	type ChunkPart,
	type ModelListBody,
	type UsageWithCost
} from './responses';
export { completionStream, completionResponse, type StreamOptions } from './stream';
