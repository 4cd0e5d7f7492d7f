// Fake OpenRouter API (OpenAI-compatible): base URL `${url}/openrouter/api/v1`.
// Differences from OpenAI that matter to clients: usage is always sent and carries `cost` (USD),
// streams contain `: OPENROUTER PROCESSING` comments, errors are `{error:{code:<number>,message}}`
// and errors after the 200 arrive as a `data:` event with an `error` field.
import type { IncomingMessage } from 'node:http';
import { maskKey } from './behaviours';
import { costUsd, fakeModelsOf, findFakeModel, usdPerTokenString, type FakeModel } from './catalog';
import type { ChatCall, Dialect, ProviderErrors, StreamPlan } from './engine';
import { bearerToken, nowSeconds, randomId, sseComment, sseData, withFields, type JsonReply } from './http';
import { openAIToolCallDeltas, openAIToolCalls, openAIUsage, parseOpenAIStyleChat } from './openai';
import type { Usage } from './tokens';

const MODELS_CREATED = 1_747_000_000;

/** Which upstream provider OpenRouter reports for each vendor prefix. */
const UPSTREAM_BY_VENDOR: Record<string, string> = {
	openai: 'OpenAI',
	anthropic: 'Anthropic',
	google: 'Google AI Studio',
	'meta-llama': 'DeepInfra'
};

function upstreamOf(model: string): string {
	return UPSTREAM_BY_VENDOR[model.split('/')[0] ?? ''] ?? 'OpenRouter';
}

function openRouterError(
	status: number,
	message: string,
	metadata?: Record<string, unknown>,
	headers?: Record<string, string>
): JsonReply {
	return {
		status,
		body: { error: { code: status, message, ...(metadata ? { metadata } : {}) } },
		headers
	};
}

export const openRouterErrors: ProviderErrors = {
	missingKey: () => openRouterError(401, 'No auth credentials found'),
	invalidKey: () => openRouterError(401, 'User not found.'),
	forbidden: (model) =>
		openRouterError(403, `${model ?? 'This model'} requires moderation. Your input was flagged for "harassment".`, {
			reasons: ['harassment'],
			flagged_input: '[redacted]',
			provider_name: model ? upstreamOf(model) : 'OpenAI',
			model_slug: model ?? null
		}),
	rateLimited: (model, retryAfterSeconds) =>
		openRouterError(
			429,
			`Rate limit exceeded for ${model ?? 'this key'}. Please retry shortly.`,
			{ headers: { 'X-RateLimit-Limit': '20', 'X-RateLimit-Remaining': '0' } },
			{ 'retry-after': String(retryAfterSeconds) }
		),
	quota: () => openRouterError(402, 'Insufficient credits. Add more using https://openrouter.ai/settings/credits'),
	serverError: () => openRouterError(500, 'Internal Server Error'),
	unavailable: () => openRouterError(503, 'No instances available for this model. Please try again later.'),
	modelNotFound: (model) => openRouterError(400, `${model} is not a valid model ID`),
	badRequest: (message) => openRouterError(400, message),
	routeNotFound: () => openRouterError(404, 'Not Found')
};

function openRouterUsage(model: string, usage: Usage): Record<string, unknown> {
	const known = findFakeModel('openrouter', model);
	const cost = known ? costUsd(known.price, usage.promptTokens, usage.completionTokens) : 0;
	return {
		...openAIUsage(usage),
		cost,
		is_byok: false,
		cost_details: { upstream_inference_cost: null }
	};
}

function openRouterStreamPlan(call: ChatCall, chunks: string[], usage: Usage | undefined): StreamPlan {
	const base = {
		id: randomId(`gen-${nowSeconds()}-`, 20),
		provider: upstreamOf(call.model),
		model: call.model,
		object: 'chat.completion.chunk',
		created: nowSeconds()
	};
	const chunk = (delta: Record<string, unknown>, finishReason: string | null): string =>
		sseData({
			...base,
			choices: [
				{
					index: 0,
					delta: { role: 'assistant', ...delta },
					finish_reason: finishReason,
					native_finish_reason: finishReason,
					logprobs: null
				}
			]
		});
	const usageFrames = usage ? [sseData({ ...base, choices: [], usage: openRouterUsage(call.model, usage) })] : [];
	return {
		head: [sseComment('OPENROUTER PROCESSING')],
		content: call.toolCall
			? openAIToolCallDeltas(call, chunks).map((delta) => chunk({ content: null, ...delta }, null))
			: chunks.map((text) => chunk({ content: text }, null)),
		tail: [chunk({ content: '' }, call.toolCall ? 'tool_calls' : 'stop'), ...usageFrames, 'data: [DONE]\n\n']
	};
}

function openRouterCompletion(call: ChatCall, reply: string, usage: Usage | undefined): unknown {
	return {
		id: randomId(`gen-${nowSeconds()}-`, 20),
		provider: upstreamOf(call.model),
		model: call.model,
		object: 'chat.completion',
		created: nowSeconds(),
		choices: [
			{
				logprobs: null,
				finish_reason: call.toolCall ? 'tool_calls' : 'stop',
				native_finish_reason: call.toolCall ? 'tool_calls' : 'stop',
				index: 0,
				message: call.toolCall
					? { role: 'assistant', content: null, refusal: null, reasoning: null, tool_calls: openAIToolCalls(call) }
					: { role: 'assistant', content: reply, refusal: null, reasoning: null }
			}
		],
		...(usage ? { usage: openRouterUsage(call.model, usage) } : {})
	};
}

function listedModel(m: FakeModel): Record<string, unknown> {
	return {
		id: m.id,
		canonical_slug: m.id,
		name: m.displayName,
		created: MODELS_CREATED,
		description: `${m.displayName} (fake).`,
		context_length: m.contextLength,
		architecture: {
			modality: 'text->text',
			input_modalities: /^(openai|anthropic|google|meta-llama\/llama-4)/.test(m.id) ? ['text', 'image'] : ['text'],
			output_modalities: ['text'],
			tokenizer: 'Other',
			instruct_type: null
		},
		pricing: {
			prompt: m.priceUnlisted ? '-1' : usdPerTokenString(m.price.promptMicroUsdPerMTok),
			completion: m.priceUnlisted ? '-1' : usdPerTokenString(m.price.completionMicroUsdPerMTok),
			request: '0',
			image: '0',
			web_search: '0',
			internal_reasoning: '0'
		},
		top_provider: {
			context_length: m.contextLength,
			max_completion_tokens: 16_384,
			is_moderated: false
		},
		per_request_limits: null,
		supported_parameters: ['max_tokens', 'temperature', 'top_p', 'stop', 'stream', 'tools']
	};
}

export const openRouterDialect: Dialect = {
	provider: 'openrouter',
	prefix: '/openrouter',
	errors: openRouterErrors,
	chargesKeys: true,
	readKey: (req: IncomingMessage) => bearerToken(req),
	responseHeaders: () => ({ 'x-generation-id': randomId(`gen-${nowSeconds()}-`, 20) }),
	route(method, path) {
		if (method === 'POST' && path === '/api/v1/chat/completions') return { kind: 'chat' };
		// The real /models is public: it answers without a key.
		if (method === 'GET' && path === '/api/v1/models') return { kind: 'models', open: true };
		if (method === 'GET' && path === '/api/v1/key') return { kind: 'key' };
		return undefined;
	},
	parseChat: (body) => parseOpenAIStyleChat(body, openRouterErrors, true),
	completion: openRouterCompletion,
	streamPlan: openRouterStreamPlan,
	malformedFrame: 'data: {"choices": [\n\n',
	malformedBody: '{"id": "gen-broken", "object": "chat.completion", "choices": [',
	midstreamError: (call, code) =>
		sseData({
			id: randomId(`gen-${nowSeconds()}-`, 20),
			provider: upstreamOf(call.model),
			model: call.model,
			object: 'chat.completion.chunk',
			created: nowSeconds(),
			error: { code: code ?? 'server_error', message: 'Provider disconnected unexpectedly' },
			choices: [{ index: 0, delta: { content: '' }, finish_reason: 'error', native_finish_reason: 'error' }]
		}),
	withErrorCode: (body, code) => withFields(body, 'error', { code }),
	listModels: () => ({ data: fakeModelsOf('openrouter').map(listedModel) }),
	keyInfo: (key, entry) => ({
		data: {
			label: maskKey(key),
			limit: null,
			limit_reset: null,
			limit_remaining: null,
			include_byok_in_limit: false,
			usage: entry.spentUsd,
			usage_daily: entry.spentUsd,
			usage_weekly: entry.spentUsd,
			usage_monthly: entry.spentUsd,
			byok_usage: 0,
			byok_usage_daily: 0,
			byok_usage_weekly: 0,
			byok_usage_monthly: 0,
			is_free_tier: false,
			is_provisioning_key: false,
			rate_limit: { requests: -1, interval: '10s' }
		}
	})
};
