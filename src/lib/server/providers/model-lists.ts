import type { ProviderId } from '$lib/providers';

/**
 * A model as a provider's own list names it, reduced to what the catalog needs. Fields a list
 * does not carry are null (OpenAI lists only ids; Anthropic ids and names; Gemini adds limits;
 * OpenRouter adds prices and modalities). Parsers are pure and forgiving: an entry they cannot
 * read is skipped, never the whole list.
 */
export interface ListedModel {
	id: string;
	name: string | null;
	contextWindow: number | null;
	maxOutputTokens: number | null;
	/** Input modalities ('text', 'image', 'file', 'audio'), when the list says. */
	input: string[] | null;
	/** Unix seconds, when the list says. */
	created: number | null;
	/** Whether it answers chat requests (embedding, audio, image and moderation models do not). */
	chat: boolean;
	/** OpenRouter only: USD per token as decimal strings, as listed. */
	pricing?: OpenRouterPricing;
}

export interface OpenRouterPricing {
	prompt: string;
	completion: string;
	input_cache_read?: string;
	input_cache_write?: string;
	internal_reasoning?: string;
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null;
const text = (value: unknown): string | null => (typeof value === 'string' && value.length > 0 ? value : null);
const count = (value: unknown): number | null =>
	typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : null;
const strings = (value: unknown): string[] | null =>
	Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : null;

function entries(body: unknown, field: string): Json[] {
	const list = isRecord(body) ? body[field] : undefined;
	return Array.isArray(list) ? list.filter(isRecord) : [];
}

// OpenAI's list mixes every kind of model; these ids are not chat-completions models.
const OPENAI_NOT_CHAT =
	/(embedding|whisper|tts|dall-e|gpt-image|moderation|transcribe|realtime|audio|search-api|^davinci|^babbage|^sora|computer-use|codex-mini|-pro($|-))/;

function parseOpenAi(body: unknown): ListedModel[] {
	return entries(body, 'data').flatMap((m) => {
		const id = text(m.id);
		if (!id) return [];
		const created = count(m.created);
		return [
			{
				id,
				name: null,
				contextWindow: null,
				maxOutputTokens: null,
				input: null,
				created,
				chat: !OPENAI_NOT_CHAT.test(id)
			}
		];
	});
}

function parseAnthropic(body: unknown): ListedModel[] {
	return entries(body, 'data').flatMap((m) => {
		const id = text(m.id);
		if (!id) return [];
		const createdAt = text(m.created_at);
		const created = createdAt ? Math.floor(Date.parse(createdAt) / 1000) || null : null;
		return [
			{
				id,
				name: text(m.display_name),
				contextWindow: count(m.max_input_tokens),
				maxOutputTokens: count(m.max_tokens),
				input: null,
				created,
				chat: true
			}
		];
	});
}

// Gemini lists image, video, speech and embedding models that also "generateContent" in name only.
const GEMINI_NOT_CHAT = /(embedding|imagen|veo|aqa|tts|image-generation|native-audio|-live-|learnlm)/;

function parseGoogle(body: unknown): ListedModel[] {
	return entries(body, 'models').flatMap((m) => {
		const name = text(m.name);
		const id = name?.startsWith('models/') ? name.slice('models/'.length) : name;
		if (!id) return [];
		const methods = strings(m.supportedGenerationMethods) ?? [];
		return [
			{
				id,
				name: text(m.displayName),
				contextWindow: count(m.inputTokenLimit),
				maxOutputTokens: count(m.outputTokenLimit),
				input: null,
				created: null,
				chat: methods.includes('generateContent') && !GEMINI_NOT_CHAT.test(id)
			}
		];
	});
}

function parsePricing(value: unknown): OpenRouterPricing | undefined {
	if (!isRecord(value)) return undefined;
	const prompt = text(value.prompt);
	const completion = text(value.completion);
	if (!prompt || !completion) return undefined;
	const optional = ['input_cache_read', 'input_cache_write', 'internal_reasoning'] as const;
	const extra = Object.fromEntries(optional.flatMap((field) => (text(value[field]) ? [[field, value[field]]] : [])));
	return { prompt, completion, ...extra };
}

function parseOpenRouter(body: unknown): ListedModel[] {
	return entries(body, 'data').flatMap((m) => {
		const id = text(m.id);
		if (!id) return [];
		const architecture = isRecord(m.architecture) ? m.architecture : {};
		const output = strings(architecture.output_modalities) ?? ['text'];
		const topProvider = isRecord(m.top_provider) ? m.top_provider : {};
		const pricing = parsePricing(m.pricing);
		return [
			{
				id,
				name: text(m.name),
				contextWindow: count(m.context_length) ?? count(topProvider.context_length),
				maxOutputTokens: count(topProvider.max_completion_tokens),
				input: strings(architecture.input_modalities),
				created: count(m.created),
				chat: output.includes('text'),
				...(pricing ? { pricing } : {})
			}
		];
	});
}

const PARSERS: Readonly<Record<ProviderId, (body: unknown) => ListedModel[]>> = {
	openai: parseOpenAi,
	anthropic: parseAnthropic,
	google: parseGoogle,
	openrouter: parseOpenRouter
};

/** The models in a provider's list answer (its own JSON shape). */
export function parseModelList(provider: ProviderId, body: unknown): ListedModel[] {
	return PARSERS[provider](body);
}

/** Where each provider lists models, in its SDK base-URL convention; page sizes at their maximum. */
export function modelListUrl(provider: ProviderId, baseUrl: string): string {
	switch (provider) {
		case 'openai':
			return `${baseUrl}/models`;
		case 'anthropic':
			return `${baseUrl}/v1/models?limit=1000`;
		case 'google':
			return `${baseUrl}/v1beta/models?pageSize=1000`;
		case 'openrouter':
			return `${baseUrl}/models`;
	}
}

const LIST_TIMEOUT_MS = 15_000;
const MAX_LIST_BYTES = 8 * 1024 * 1024;

/**
 * OpenRouter's public model list, for the app. Throws on any failure: the caller keeps the last
 * list it has. The app key is not needed (the list is public) and is not sent.
 */
export async function fetchOpenRouterModels(baseUrl: string, signal?: AbortSignal): Promise<ListedModel[]> {
	const timeout = AbortSignal.timeout(LIST_TIMEOUT_MS);
	const response = await fetch(modelListUrl('openrouter', baseUrl), {
		headers: { accept: 'application/json' },
		redirect: 'error',
		signal: signal ? AbortSignal.any([signal, timeout]) : timeout
	});
	if (!response.ok) {
		await response.body?.cancel().catch(() => {});
		throw new Error(`OpenRouter's model list answered ${response.status}`);
	}
	const declared = Number(response.headers.get('content-length') ?? 0);
	if (declared > MAX_LIST_BYTES) throw new Error('OpenRouter model list is too large');
	const models = parseModelList('openrouter', await response.json());
	if (models.length === 0) throw new Error('OpenRouter model list is empty');
	return models;
}

/** Reads a key check's 2xx body as a model list; an unreadable body gives none (the check still counts). */
export async function readModelList(provider: ProviderId, response: Response): Promise<ListedModel[] | undefined> {
	try {
		const declared = Number(response.headers.get('content-length') ?? 0);
		if (declared > MAX_LIST_BYTES) return undefined;
		const models = parseModelList(provider, await response.json());
		return models.length > 0 ? models : undefined;
	} catch {
		return undefined;
	}
}
