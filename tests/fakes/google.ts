// Fake Google Gemini API (generativelanguage v1beta): base URL `${url}/google`.
// The SDK's stream parser is strict: every event is exactly `data: {single-line json}\n\n`,
// with no comments, no `event:` lines and no [DONE].
import type { IncomingMessage } from 'node:http';
import { fakeModelsOf } from './catalog';
import type { ChatCall, ChatParse, Dialect, ProviderErrors, StreamPlan } from './engine';
import { inlineImageNote, scriptedToolCall, toolResultNote, urlImageNote } from './features';
import { headerValue, isRecord, randomId, sseData, withFields, type JsonReply } from './http';
import type { Usage } from './tokens';

const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';
const SERVICE = 'generativelanguage.googleapis.com';

function googleError(
	code: number,
	status: string,
	message: string,
	details?: unknown[],
	headers?: Record<string, string>
): JsonReply {
	return {
		status: code,
		body: { error: { code, message, status, ...(details ? { details } : {}) } },
		headers
	};
}

function errorInfo(reason: string): Record<string, unknown> {
	return { '@type': ERROR_INFO, reason, domain: 'googleapis.com', metadata: { service: SERVICE } };
}

export const googleErrors: ProviderErrors = {
	// The real API answers a request without any key with 403, not with API_KEY_INVALID.
	missingKey: () =>
		googleError(
			403,
			'PERMISSION_DENIED',
			"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
		),
	// An invalid key is 400 INVALID_ARGUMENT with reason API_KEY_INVALID, not 401.
	invalidKey: () =>
		googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
			errorInfo('API_KEY_INVALID'),
			{
				'@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
				locale: 'en-US',
				message: 'API key not valid. Please pass a valid API key.'
			}
		]),
	forbidden: () =>
		googleError(403, 'PERMISSION_DENIED', 'The caller does not have permission', [errorInfo('PERMISSION_DENIED')]),
	rateLimited: (_model, retryAfterSeconds) =>
		googleError(
			429,
			'RESOURCE_EXHAUSTED',
			'Resource has been exhausted (e.g. check quota).',
			[{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterSeconds}s` }],
			{ 'retry-after': String(retryAfterSeconds) }
		),
	// Same status as a rate limit; the message and the per-day QuotaFailure tell them apart.
	quota: () =>
		googleError(
			429,
			'RESOURCE_EXHAUSTED',
			'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
			[
				{
					'@type': 'type.googleapis.com/google.rpc.QuotaFailure',
					violations: [
						{
							quotaMetric: `${SERVICE}/generate_content_free_tier_requests`,
							quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier'
						}
					]
				}
			]
		),
	serverError: () =>
		googleError(
			500,
			'INTERNAL',
			'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'
		),
	unavailable: () => googleError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'),
	modelNotFound: (model) =>
		googleError(
			404,
			'NOT_FOUND',
			`models/${model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`
		),
	badRequest: (message) => googleError(400, 'INVALID_ARGUMENT', message),
	routeNotFound: (method, path) => googleError(404, 'NOT_FOUND', `Method not found: ${method} ${path}`)
};

const CHAT_PATH = /^\/(v1beta|v1)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

function partsText(content: unknown): string {
	if (!isRecord(content) || !Array.isArray(content.parts)) return '';
	return content.parts.map(partText).join('');
}

/** A part's text; images and function responses as notes about them. */
function partText(part: unknown): string {
	if (!isRecord(part)) return '';
	if (typeof part.text === 'string') return part.text;
	if (isRecord(part.inlineData)) return inlineImageNote(part.inlineData.mimeType, part.inlineData.data);
	if (isRecord(part.fileData)) return urlImageNote(part.fileData.fileUri);
	if (isRecord(part.functionResponse)) {
		const response = part.functionResponse.response;
		const output =
			isRecord(response) && typeof response.output === 'string' ? response.output : JSON.stringify(response);
		return toolResultNote(output);
	}
	return '';
}

/** What the real API refuses about parts and function declarations. */
function requestProblem(body: Record<string, unknown>, records: Record<string, unknown>[]): string | undefined {
	for (const [index, content] of records.entries()) {
		const parts = Array.isArray(content.parts) ? content.parts : [];
		for (const [partIndex, part] of parts.entries()) {
			if (!isRecord(part)) continue;
			const blob = part.inlineData ?? part.fileData;
			if (blob !== undefined && !(isRecord(blob) && typeof blob.mimeType === 'string' && blob.mimeType !== '')) {
				return `* GenerateContentRequest.contents[${index}].parts[${partIndex}].data: mime_type is required\n`;
			}
			if (isRecord(part.functionResponse) && !isRecord(part.functionResponse.response)) {
				return `Invalid JSON payload received. Unknown name "response" at 'contents[${index}].parts[${partIndex}].function_response'.`;
			}
		}
	}
	for (const tool of Array.isArray(body.tools) ? body.tools : []) {
		const declarations = isRecord(tool) && Array.isArray(tool.functionDeclarations) ? tool.functionDeclarations : [];
		for (const declaration of declarations) {
			const parameters = isRecord(declaration) ? declaration.parameters : undefined;
			if (isRecord(parameters) && 'additionalProperties' in parameters) {
				return 'Invalid JSON payload received. Unknown name "additionalProperties" at \'tools[0].function_declarations[0].parameters\': Cannot find field.';
			}
		}
	}
	return undefined;
}

function toolCallOf(body: Record<string, unknown>, records: Record<string, unknown>[], lastUserText: string) {
	const names = (Array.isArray(body.tools) ? body.tools : []).flatMap((tool) =>
		isRecord(tool) && Array.isArray(tool.functionDeclarations)
			? tool.functionDeclarations.filter(isRecord).map((d) => String(d.name))
			: []
	);
	const config =
		isRecord(body.toolConfig) && isRecord(body.toolConfig.functionCallingConfig)
			? body.toolConfig.functionCallingConfig
			: {};
	const allowed = Array.isArray(config.allowedFunctionNames) ? config.allowedFunctionNames.map(String) : [];
	const lastParts = Array.isArray(records.at(-1)?.parts) ? (records.at(-1)?.parts as unknown[]) : [];
	const endsWithToolResult = lastParts.some((p) => isRecord(p) && isRecord(p.functionResponse));
	return scriptedToolCall(
		names,
		{ none: config.mode === 'NONE', forced: allowed[0] },
		endsWithToolResult,
		lastUserText,
		''
	);
}

function parseGoogleChat(body: unknown, model: string, stream: boolean): ChatParse {
	const bad = (message: string): ChatParse => ({ error: googleErrors.badRequest(message) });
	if (!isRecord(body)) return bad('Invalid JSON payload received.');
	const contents = body.contents;
	if (!Array.isArray(contents) || contents.length === 0) {
		return bad('* GenerateContentRequest.contents: contents is not specified\n');
	}
	const records = contents.filter(isRecord);
	// A content without a role is a user turn.
	const lastUser = [...records].reverse().find((c) => c.role === undefined || c.role === 'user');
	const problem = requestProblem(body, records);
	if (problem) return bad(problem);
	const system = body.systemInstruction ?? body.system_instruction;
	const lastUserText = lastUser ? partsText(lastUser) : '';
	const toolCall = toolCallOf(body, records, lastUserText);
	const config = isRecord(body.generationConfig) ? body.generationConfig : {};
	const json = config.responseMimeType === 'application/json';
	return {
		call: {
			model,
			stream,
			promptTexts: [...(system === undefined ? [] : [partsText(system)]), ...records.map(partsText)],
			lastUserText,
			includeUsage: true,
			...(toolCall ? { toolCall } : {}),
			...(json ? { jsonSchema: config.responseSchema ?? {} } : {})
		}
	};
}

function usageMetadata(usage: Usage): Record<string, unknown> {
	return {
		promptTokenCount: usage.promptTokens,
		// Gemini reports thinking apart from the answer's tokens.
		candidatesTokenCount: usage.completionTokens - (usage.reasoningTokens ?? 0),
		totalTokenCount: usage.promptTokens + usage.completionTokens,
		promptTokensDetails: [{ modality: 'TEXT', tokenCount: usage.promptTokens }],
		...(usage.cachedReadTokens ? { cachedContentTokenCount: usage.cachedReadTokens } : {}),
		...(usage.reasoningTokens ? { thoughtsTokenCount: usage.reasoningTokens } : {})
	};
}

/** One response (or stream chunk); `final` adds finishReason and, if given, usage. */
function geminiResponse(
	call: ChatCall,
	responseId: string,
	text: string,
	final: boolean,
	usage: Usage | undefined
): Record<string, unknown> {
	// Gemini sends a function call whole, in one part, without an id.
	const tool = call.toolCall;
	const parts = tool
		? [{ functionCall: { name: tool.name, args: JSON.parse(tool.arguments) as unknown } }]
		: [{ text }];
	return {
		candidates: [
			{
				content: { parts, role: 'model' },
				...(final ? { finishReason: 'STOP' } : {}),
				index: 0
			}
		],
		...(final && usage ? { usageMetadata: usageMetadata(usage) } : {}),
		modelVersion: call.model,
		responseId
	};
}

function googleStreamPlan(call: ChatCall, chunks: string[], usage: Usage | undefined): StreamPlan {
	const responseId = randomId('', 22);
	const lastIndex = chunks.length - 1;
	return {
		head: [],
		// Like the real API, the last text chunk carries finishReason and usageMetadata.
		content: call.toolCall
			? [sseData(geminiResponse(call, responseId, '', true, usage))]
			: chunks.map((text, i) => sseData(geminiResponse(call, responseId, text, i === lastIndex, usage))),
		tail: []
	};
}

export const googleDialect: Dialect = {
	provider: 'google',
	prefix: '/google',
	errors: googleErrors,
	// The REST API also takes ?key=; the request log records only the path, never the query.
	readKey: (req: IncomingMessage, url: URL) =>
		headerValue(req, 'x-goog-api-key') ?? (url.searchParams.get('key') || undefined),
	responseHeaders: () => ({
		vary: 'Origin, X-Origin, Referer',
		server: 'scaffolding on HTTPServer2'
	}),
	route(method, path) {
		const chat = CHAT_PATH.exec(path);
		if (method === 'POST' && chat?.[2] && chat[3]) {
			return {
				kind: 'chat',
				model: decodeURIComponent(chat[2]),
				stream: chat[3] === 'streamGenerateContent'
			};
		}
		if (method === 'GET' && (path === '/v1beta/models' || path === '/v1/models')) return { kind: 'models' };
		return undefined;
	},
	parseChat: (body, route) => parseGoogleChat(body, route.model ?? '', route.stream === true),
	completion: (call, reply, usage) => geminiResponse(call, randomId('', 22), reply, true, usage),
	streamPlan: googleStreamPlan,
	malformedFrame: 'data: {"candidates": [\n\n',
	malformedBody: '{"candidates": [{"content": {"parts": [',
	// Gemini has no in-stream error event: a failed stream just ends abruptly.
	midstreamError: () => 'cut',
	// Google's machine code is the ErrorInfo reason.
	withErrorCode: (body, code) => {
		const error = isRecord(body) ? body.error : undefined;
		const details = isRecord(error) && Array.isArray(error.details) ? (error.details as unknown[]) : [];
		const others = details.filter((detail) => !(isRecord(detail) && detail['@type'] === ERROR_INFO));
		return withFields(body, 'error', { details: [errorInfo(code), ...others] });
	},
	listModels: () => ({
		models: fakeModelsOf('google').map((m) => ({
			name: `models/${m.id}`,
			version: '001',
			displayName: m.displayName,
			description: `${m.displayName} (fake).`,
			inputTokenLimit: m.contextLength,
			outputTokenLimit: 65_536,
			supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent'],
			temperature: 1,
			topP: 0.95,
			topK: 64,
			maxTemperature: 2
		}))
	})
};
