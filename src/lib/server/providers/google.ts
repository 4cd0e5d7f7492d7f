import { GoogleGenerativeAI, type Content, type GenerateContentResponse } from '@google/generative-ai';
import { guardedCall, isRecord, tokenCount, type CallControl } from './call';
import type { ChatCall, FinishReason, ProviderAdapter, ProviderEvent } from './types';

/**
 * Google Gemini through `@google/generative-ai` 0.24.1:
 * `getGenerativeModel({ model }, { baseUrl })` posts to `${baseUrl}/v1beta/models/M:...`, the key
 * in the x-goog-api-key header (never `?key=`, which would reach URL logs).
 *
 * No `timeout` request option on purpose: the SDK never clears that timer, so it would cut a
 * long stream at `timeoutMs` and keep the process busy; our own idle timeout aborts the signal
 * instead. The SDK never retries.
 */
export const googleAdapter: ProviderAdapter = {
	id: 'google',
	chat: (call, baseUrl) =>
		guardedCall('google', call, (control) =>
			call.stream ? streamChat(call, baseUrl, control) : completeChat(call, baseUrl, control)
		)
};

function modelFor(call: ChatCall, baseUrl: string) {
	const system = call.messages
		.filter((m) => m.role === 'system')
		.map((m) => m.content)
		.join('\n\n');
	return new GoogleGenerativeAI(call.apiKey).getGenerativeModel(
		{
			model: call.model,
			...(system === '' ? {} : { systemInstruction: { role: 'system', parts: [{ text: system }] } }),
			generationConfig: {
				maxOutputTokens: call.maxOutputTokens,
				...(call.temperature === undefined ? {} : { temperature: call.temperature })
			}
		},
		{ baseUrl }
	);
}

function contentsOf(call: ChatCall): Content[] {
	return call.messages
		.filter((m) => m.role !== 'system')
		.map((m) => ({ role: m.role === 'assistant' ? 'model' : 'user', parts: [{ text: m.content }] }));
}

async function* streamChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const result = await modelFor(call, baseUrl).generateContentStream(
		{ contents: contentsOf(call) },
		{ signal: control.signal }
	);
	// The SDK tees the stream into an aggregate promise we don't use; it rejects whenever the
	// stream fails, and must not become an unhandled rejection.
	result.response.catch(() => undefined);
	let usage: ProviderEvent | undefined;
	let finish: FinishReason | undefined;
	for await (const chunk of result.stream) {
		control.touch();
		const text = textOf(chunk);
		if (text) yield { type: 'delta', text };
		// Usage arrives on the last chunk (real Gemini repeats a running total on each).
		usage = usageEvent(chunk) ?? usage;
		finish = finishOf(chunk) ?? finish;
	}
	if (usage) yield usage;
	yield { type: 'finish', reason: finish ?? 'other' };
}

async function* completeChat(call: ChatCall, baseUrl: string, control: CallControl): AsyncGenerator<ProviderEvent> {
	const { response } = await modelFor(call, baseUrl).generateContent(
		{ contents: contentsOf(call) },
		{ signal: control.signal }
	);
	const raw: unknown = response;
	if (!isRecord(raw)) throw new SyntaxError('generateContent answered without a JSON object');
	const text = textOf(response);
	if (text) yield { type: 'delta', text };
	const usage = usageEvent(response);
	if (usage) yield usage;
	yield { type: 'finish', reason: finishOf(response) ?? 'other' };
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
	return { type: 'usage', promptTokens, completionTokens: candidates + thoughts };
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
