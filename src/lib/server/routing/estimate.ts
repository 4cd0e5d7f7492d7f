import { badRequest } from '$lib/server/errors';
import {
	countPromptTokens,
	getModel,
	loadTokenizer,
	worstCaseCostMicros,
	type CatalogModel
} from '$lib/server/catalog';
import type { KeySource } from '$lib/server/db';
import type { AdmitRequest } from '$lib/server/limits';
import type { ChatMessage, GenerationOptions } from '$lib/server/providers';

/** Output budget when the client does not say; bounded by the model's own maximum. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;
/** Tokenizers differ between providers; a margin keeps the cap from being overrun. */
const PROMPT_ESTIMATE_MARGIN = 1.2;
/**
 * What one image costs in prompt tokens, at most: Anthropic bills about 1,600 for its largest
 * (1.15 megapixels), OpenAI's high detail about 1,100 for GPT-4o, Gemini 258. Images are not
 * decoded here, so each is reserved at that ceiling.
 */
export const IMAGE_PROMPT_TOKENS = 1600;

/** The messages as text the tokenizer counts: tool calls and results as what the model reads. */
function countable(messages: ChatMessage[], options: GenerationOptions | undefined) {
	let images = 0;
	const texts = messages.map((m) => {
		if (m.role === 'user' && typeof m.content !== 'string') {
			images += m.content.filter((p) => p.type === 'image').length;
			return { role: m.role, content: m.content.map((p) => (p.type === 'text' ? p.text : '')).join('\n') };
		}
		if (m.role === 'assistant' && m.toolCalls) {
			return { role: m.role, content: m.content + m.toolCalls.map((c) => `${c.name}(${c.arguments})`).join('\n') };
		}
		return { role: m.role, content: typeof m.content === 'string' ? m.content : '' };
	});
	const extras = [options?.tools, options?.responseFormat].filter((x) => x !== undefined);
	if (extras.length > 0) texts.push({ role: 'system', content: JSON.stringify(extras) });
	return { texts, images };
}

/** The model of a request and its worst case, reserved against the limits before the call. */
export interface ChatEstimate {
	model: CatalogModel;
	maxOutputTokens: number;
	promptTokens: number;
	reserveMicros: number;
	reserveTokens: number;
}

export interface EstimateInput {
	/** Public model id, `provider/model`. */
	modelId: string;
	messages: ChatMessage[];
	maxOutputTokens?: number;
	options?: GenerationOptions;
}

/**
 * Checks the model and the request's size and estimates its worst case (prompt counted with a
 * tokenizer plus a margin, the output budget, their cost). A 400 for an unknown model or a
 * conversation too long for the model's window.
 */
export async function estimateChat(request: EstimateInput): Promise<ChatEstimate> {
	const model = getModel(request.modelId);
	if (!model) {
		throw badRequest(`Unknown model "${request.modelId.slice(0, 100)}". Pick one from the model list.`, {
			reason: 'model_not_found'
		});
	}
	const maxOutputTokens = Math.min(request.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS, model.maxOutputTokens);
	await loadTokenizer();
	const { texts, images } = countable(request.messages, request.options);
	const promptTokens = (await countPromptTokens(texts)) + images * IMAGE_PROMPT_TOKENS;
	if (promptTokens + maxOutputTokens > model.contextWindow) {
		throw badRequest(
			`This conversation is too long for ${model.displayName}: about ${promptTokens} tokens plus ${maxOutputTokens} for the answer, over its ${model.contextWindow}-token window. Start a new chat or shorten it.`,
			{ reason: 'context_length_exceeded' }
		);
	}
	const promptReserveTokens = Math.ceil(promptTokens * PROMPT_ESTIMATE_MARGIN) + 16;
	return {
		model,
		maxOutputTokens,
		promptTokens,
		reserveMicros: worstCaseCostMicros(model, promptReserveTokens, maxOutputTokens),
		reserveTokens: promptReserveTokens + maxOutputTokens
	};
}

/** Attempt `index`'s admission for the estimate's worst case, but its user; ids are the request's, numbered. */
export function admissionRequestOf(
	estimate: ChatEstimate,
	requestId: string,
	keySource: KeySource,
	index: number
): Omit<AdmitRequest, 'userId'> {
	return {
		provider: estimate.model.provider,
		model: estimate.model.id,
		keySource,
		reserveMicros: estimate.reserveMicros,
		reserveTokens: estimate.reserveTokens,
		requestId: `${requestId}:${index}`
	};
}
