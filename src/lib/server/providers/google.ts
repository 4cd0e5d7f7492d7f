import {
	GoogleGenerativeAI,
	GoogleGenerativeAIAbortError,
	GoogleGenerativeAIError,
	GoogleGenerativeAIFetchError,
	GoogleGenerativeAIRequestInputError,
	type GenerateContentResponse
} from '@google/generative-ai';
import { guardedCall, isRecord, tokenCount, type CallControl } from './call';
import { failureForStatus, type Classified } from './errors';
import { checkKeyWith } from './key-check';
import { modelListUrl } from './model-lists';
import { geminiRequest, newToolCallId } from './google-request';
import { normalizeKeyShape } from './key-format';
import type { ChatCall, FinishReason, ProviderAdapter, ProviderEvent } from './types';

// Gemini through `@google/generative-ai` 0.24.1, the key in the x-goog-api-key header (never
// `?key=`, which would reach URL logs). No SDK `timeout`: it never clears that timer and would cut
// long streams; our idle timeout aborts the signal instead.

/** Its status names, the ErrorInfo reasons of google.api.ErrorReason it may send, and per-day quota ids. */
const GOOGLE_CODES: ReadonlySet<string> = new Set([
	'INVALID_ARGUMENT',
	'FAILED_PRECONDITION',
	'OUT_OF_RANGE',
	'UNAUTHENTICATED',
	'PERMISSION_DENIED',
	'NOT_FOUND',
	'RESOURCE_EXHAUSTED',
	'CANCELLED',
	'INTERNAL',
	'UNAVAILABLE',
	'DEADLINE_EXCEEDED',
	'API_KEY_INVALID',
	'API_KEY_SERVICE_BLOCKED',
	'API_KEY_HTTP_REFERRER_BLOCKED',
	'API_KEY_IP_ADDRESS_BLOCKED',
	'API_KEY_ANDROID_APP_BLOCKED',
	'API_KEY_IOS_APP_BLOCKED',
	'SERVICE_DISABLED',
	'BILLING_DISABLED',
	'CONSUMER_INVALID',
	'CONSUMER_SUSPENDED',
	'USER_PROJECT_DENIED',
	'RATE_LIMIT_EXCEEDED',
	'RESOURCE_QUOTA_EXCEEDED',
	'LOCATION_POLICY_VIOLATED',
	'GenerateRequestsPerDayPerProjectPerModel-FreeTier',
	'GenerateRequestsPerDayPerProjectPerModel',
	'GenerateContentInputTokensPerModelPerDay-FreeTier'
]);

/** Google answers an invalid key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID, not 401. */
const rejectsKey = (status: number, reason: string | undefined) => status === 400 && reason === 'API_KEY_INVALID';

export const googleAdapter: ProviderAdapter = {
	id: 'google',
	chat: (call, baseUrl) =>
		guardedCall(googleAdapter, call, (control) =>
			call.stream ? streamChat(call, baseUrl, control) : completeChat(call, baseUrl, control)
		),
	// The SDK has no list call: raw fetch.
	checkKey: (apiKey, baseUrl, options) =>
		checkKeyWith(
			{
				url: modelListUrl('google', baseUrl),
				headers: { 'x-goog-api-key': apiKey },
				listsModelsOf: 'google',
				// Only a 400 can be this rejection: other bodies are not read.
				rejectedKeyCode: async (status, body) =>
					status === 400 && rejectsKey(status, googleReason(detailsOfBody(await body())))
						? 'api_key_invalid'
						: undefined
			},
			options
		),
	normalizeKey: (raw) => normalizeKeyShape('google', raw),
	classifyError: classifyGoogleError,
	knownCodes: GOOGLE_CODES
};

function classifyGoogleError(error: unknown): Classified | undefined {
	if (!(error instanceof GoogleGenerativeAIError)) return undefined;
	if (error instanceof GoogleGenerativeAIAbortError) return { failure: 'aborted' };
	if (error instanceof GoogleGenerativeAIFetchError) {
		const details = Array.isArray(error.errorDetails) ? (error.errorDetails as unknown[]) : [];
		const reason = googleReason(details);
		const quotaId = dailyQuotaId(details);
		const status = error.status;
		if (status === undefined) return { failure: 'network', providerCode: reason };
		return {
			failure: rejectsKey(status, reason) ? 'auth' : failureForStatus(status, quotaId !== undefined),
			status,
			retryAfterSeconds: retryDelay(details),
			providerCode: reason ?? quotaId
		};
	}
	if (error instanceof GoogleGenerativeAIRequestInputError) return { failure: 'bad_request' };
	// The SDK wraps stream failures in plain GoogleGenerativeAIErrors; only the message tells them apart.
	if (/Error parsing JSON response|Failed to parse stream/.test(error.message)) return { failure: 'malformed' };
	if (/Error reading from the stream|Error fetching from/.test(error.message)) return { failure: 'network' };
	return { failure: 'malformed' };
}

/** `error.details` of a Google error body, or none if it is not one. */
function detailsOfBody(text: string): unknown[] {
	try {
		const body: unknown = JSON.parse(text);
		const details = isRecord(body) && isRecord(body.error) ? body.error.details : undefined;
		return Array.isArray(details) ? (details as unknown[]) : [];
	} catch {
		return [];
	}
}

function googleReason(details: unknown[]): string | undefined {
	for (const detail of details) {
		if (isRecord(detail) && typeof detail.reason === 'string') return detail.reason;
	}
	return undefined;
}

/** A 429 is a per-minute limit or an exhausted per-day quota; only a QuotaFailure naming a day says which. */
function dailyQuotaId(details: unknown[]): string | undefined {
	for (const detail of details) {
		if (!isRecord(detail) || !String(detail['@type']).endsWith('google.rpc.QuotaFailure')) continue;
		const violations = Array.isArray(detail.violations) ? (detail.violations as unknown[]) : [];
		for (const violation of violations) {
			if (!isRecord(violation)) continue;
			const quotaId = typeof violation.quotaId === 'string' ? violation.quotaId : '';
			const metric = typeof violation.quotaMetric === 'string' ? violation.quotaMetric : '';
			if (/PerDay/i.test(quotaId) || /per_day|daily/i.test(metric)) return quotaId || metric;
		}
	}
	return undefined;
}

function retryDelay(details: unknown[]): number | undefined {
	for (const detail of details) {
		if (!isRecord(detail) || !String(detail['@type']).endsWith('google.rpc.RetryInfo')) continue;
		const match = /^(\d+(?:\.\d+)?)s$/.exec(String(detail.retryDelay));
		if (match?.[1]) return Math.ceil(Number(match[1]));
	}
	return undefined;
}

function modelFor(call: ChatCall, baseUrl: string) {
	return new GoogleGenerativeAI(call.apiKey).getGenerativeModel({ model: call.model }, { baseUrl });
}

/** A function call's parts as tool-call events, numbered on from `next`. */
function* functionCallEvents(response: GenerateContentResponse, next: { index: number }): Generator<ProviderEvent> {
	const parts: unknown = response.candidates?.[0]?.content?.parts;
	if (!Array.isArray(parts)) return;
	for (const part of parts as unknown[]) {
		if (!isRecord(part) || !isRecord(part.functionCall) || typeof part.functionCall.name !== 'string') continue;
		const { name, args } = part.functionCall;
		const id = typeof part.functionCall.id === 'string' ? part.functionCall.id : newToolCallId();
		yield { type: 'tool_call', index: next.index++, id, name, arguments: JSON.stringify(isRecord(args) ? args : {}) };
	}
}

async function* streamChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const result = await modelFor(call, baseUrl).generateContentStream(geminiRequest(call), { signal: control.signal });
	// The SDK tees the stream into an aggregate promise we don't use; it rejects whenever the
	// stream fails, and must not become an unhandled rejection.
	result.response.catch(() => undefined);
	let usage: ProviderEvent | undefined;
	let finish: FinishReason | undefined;
	const calls = { index: 0 };
	for await (const chunk of result.stream) {
		control.touch();
		const text = textOf(chunk);
		if (text) yield { type: 'delta', text };
		yield* functionCallEvents(chunk, calls);
		// Usage arrives on the last chunk (real Gemini repeats a running total on each).
		usage = usageEvent(chunk) ?? usage;
		finish = finishOf(chunk) ?? finish;
	}
	if (usage) yield usage;
	// Gemini ends a turn that called functions with STOP; OpenAI clients look for tool_calls.
	yield { type: 'finish', reason: calls.index > 0 && finish === 'stop' ? 'tool_calls' : (finish ?? 'other') };
}

async function* completeChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const { response } = await modelFor(call, baseUrl).generateContent(geminiRequest(call), { signal: control.signal });
	const raw: unknown = response;
	if (!isRecord(raw)) throw new SyntaxError('generateContent answered without a JSON object');
	const text = textOf(response);
	if (text) yield { type: 'delta', text };
	const calls = { index: 0 };
	yield* functionCallEvents(response, calls);
	const usage = usageEvent(response);
	if (usage) yield usage;
	const finish = finishOf(response) ?? 'other';
	yield { type: 'finish', reason: calls.index > 0 && finish === 'stop' ? 'tool_calls' : finish };
}

/** Text parts of the first candidate; thought summaries (`thought: true`) are not the answer. */
function textOf(response: GenerateContentResponse): string {
	const parts: unknown = response.candidates?.[0]?.content?.parts;
	if (!Array.isArray(parts)) return '';
	return parts
		.map((part: unknown) => (isRecord(part) && part.thought !== true && typeof part.text === 'string' ? part.text : ''))
		.join('');
}

function usageEvent(response: GenerateContentResponse): ProviderEvent | undefined {
	const usage: unknown = response.usageMetadata;
	if (!isRecord(usage)) return undefined;
	const promptTokens = tokenCount(usage.promptTokenCount);
	const candidates = tokenCount(usage.candidatesTokenCount);
	if (promptTokens === undefined || candidates === undefined) return undefined;
	// Gemini 2.5 bills thinking tokens as output but reports them apart from candidatesTokenCount.
	const thoughts = tokenCount(usage.thoughtsTokenCount) ?? 0;
	// promptTokenCount includes the tokens read from a context cache.
	const cached = tokenCount(usage.cachedContentTokenCount) ?? 0;
	return {
		type: 'usage',
		promptTokens,
		completionTokens: candidates + thoughts,
		...(cached ? { cachedReadTokens: Math.min(cached, promptTokens) } : {}),
		...(thoughts ? { reasoningTokens: thoughts } : {})
	};
}

function finishOf(response: GenerateContentResponse): FinishReason | undefined {
	if (response.promptFeedback?.blockReason) return 'content_filter';
	const reason = response.candidates?.[0]?.finishReason;
	if (reason === undefined) return undefined;
	switch (String(reason)) {
		case 'STOP':
			return 'stop';
		case 'MAX_TOKENS':
			return 'length';
		case 'SAFETY':
		case 'RECITATION':
		case 'BLOCKLIST':
		case 'PROHIBITED_CONTENT':
		case 'SPII':
		case 'LANGUAGE':
		case 'IMAGE_SAFETY':
			return 'content_filter';
		default:
			return 'other';
	}
}
