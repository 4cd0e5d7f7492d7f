// HTTP control plane, so a fake running in another process (cli.ts) can be scripted:
//   POST /__control/keys      {provider, key, behaviour?, reply?, firstByteDelayMs?, firstTokenDelayMs?, chunkDelayMs?, wordsPerChunk?, retryAfterSeconds?, errorCode?}
//   GET  /__control/requests  the request log as JSON
//   POST /__control/reset     forget keys and requests
//   GET  /__control/health    {ok: true, baseUrls}
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isBehaviour, keyTail, type BehaviourSpec } from './behaviours';
import { isRecord, parseJson, readBody } from './http';
import { isProviderName, type FakeProviders, type ProviderName } from './types';

export const CONTROL_PREFIX = '/__control';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
	const text = JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json',
		'content-length': String(Buffer.byteLength(text))
	});
	res.end(text);
}

interface KeyRegistration {
	provider: ProviderName;
	key: string;
	spec: BehaviourSpec;
}

function optionalNumber(body: Record<string, unknown>, name: string): number | undefined | Error {
	const value = body[name];
	if (value === undefined || value === null) return undefined;
	return typeof value === 'number' ? value : new Error(`${name} must be a number`);
}

/** Validate a POST /__control/keys body. */
export function parseKeyRegistration(body: unknown): KeyRegistration | Error {
	if (!isRecord(body)) return new Error('body must be a JSON object');
	if (!isProviderName(body.provider)) return new Error('provider must be openai, anthropic, google or openrouter');
	if (typeof body.key !== 'string' || body.key === '') return new Error('key must be a non-empty string');
	const behaviour = body.behaviour ?? 'ok';
	if (!isBehaviour(behaviour)) return new Error(`unknown behaviour: ${String(behaviour)}`);
	if (body.reply !== undefined && typeof body.reply !== 'string') return new Error('reply must be a string');
	if (body.errorCode !== undefined && typeof body.errorCode !== 'string')
		return new Error('errorCode must be a string');
	const firstByteDelayMs = optionalNumber(body, 'firstByteDelayMs');
	const firstTokenDelayMs = optionalNumber(body, 'firstTokenDelayMs');
	const chunkDelayMs = optionalNumber(body, 'chunkDelayMs');
	const wordsPerChunk = optionalNumber(body, 'wordsPerChunk');
	const retryAfterSeconds = optionalNumber(body, 'retryAfterSeconds');
	const cachedReadTokens = optionalNumber(body, 'cachedReadTokens');
	const cacheWriteTokens = optionalNumber(body, 'cacheWriteTokens');
	const reasoningTokens = optionalNumber(body, 'reasoningTokens');
	for (const value of [
		firstByteDelayMs,
		firstTokenDelayMs,
		chunkDelayMs,
		wordsPerChunk,
		retryAfterSeconds,
		cachedReadTokens,
		cacheWriteTokens,
		reasoningTokens
	]) {
		if (value instanceof Error) return value;
	}
	const spec: BehaviourSpec = { behaviour };
	if (typeof body.reply === 'string') spec.reply = body.reply;
	if (typeof body.errorCode === 'string') spec.errorCode = body.errorCode;
	if (typeof firstByteDelayMs === 'number') spec.firstByteDelayMs = firstByteDelayMs;
	if (typeof firstTokenDelayMs === 'number') spec.firstTokenDelayMs = firstTokenDelayMs;
	if (typeof chunkDelayMs === 'number') spec.chunkDelayMs = chunkDelayMs;
	if (typeof wordsPerChunk === 'number') spec.wordsPerChunk = wordsPerChunk;
	if (typeof retryAfterSeconds === 'number') spec.retryAfterSeconds = retryAfterSeconds;
	if (typeof cachedReadTokens === 'number') spec.cachedReadTokens = cachedReadTokens;
	if (typeof cacheWriteTokens === 'number') spec.cacheWriteTokens = cacheWriteTokens;
	if (typeof reasoningTokens === 'number') spec.reasoningTokens = reasoningTokens;
	return { provider: body.provider, key: body.key, spec };
}

export async function serveControl(
	fake: FakeProviders,
	req: IncomingMessage,
	res: ServerResponse,
	path: string
): Promise<void> {
	const text = await readBody(req);
	const route = `${req.method ?? 'GET'} ${path}`;
	switch (route) {
		case 'POST /keys':
			return registerFromJson(fake, text, res);
		case 'GET /requests':
			return sendJson(res, 200, fake.requests);
		case 'POST /models':
			return addModelFromJson(fake, text, res);
		case 'POST /reset':
			fake.reset();
			return sendJson(res, 200, { ok: true });
		case 'GET /health':
			return sendJson(res, 200, { ok: true, baseUrls: fake.baseUrls });
		default:
			return sendJson(res, 404, { error: `no control route ${route}` });
	}
}

function registerFromJson(fake: FakeProviders, text: string, res: ServerResponse): void {
	const parsed = parseJson(text);
	const registration = parsed.ok ? parseKeyRegistration(parsed.value) : new Error('body is not valid JSON');
	if (registration instanceof Error) return sendJson(res, 400, { error: registration.message });
	try {
		fake.registerKey(registration.provider, registration.key, registration.spec);
	} catch (error) {
		return sendJson(res, 400, { error: error instanceof Error ? error.message : String(error) });
	}
	sendJson(res, 200, {
		ok: true,
		provider: registration.provider,
		key: keyTail(registration.key),
		behaviour: registration.spec.behaviour
	});
}

/** `{"provider":"openai","id":"gpt-4.1-nano","name":"GPT-4.1 nano","contextLength":1047576,"inMicrosPerMTok":100000,"outMicrosPerMTok":400000}` */
function addModelFromJson(fake: FakeProviders, text: string, res: ServerResponse): void {
	const parsed = parseJson(text);
	const body = parsed.ok ? (parsed.value as Record<string, unknown>) : {};
	const { provider, id, name, contextLength, inMicrosPerMTok, outMicrosPerMTok } = body ?? {};
	const whole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
	if (
		!isProviderName(provider) ||
		typeof id !== 'string' ||
		typeof name !== 'string' ||
		!whole(contextLength) ||
		!whole(inMicrosPerMTok) ||
		!whole(outMicrosPerMTok)
	) {
		return sendJson(res, 400, {
			error: 'expected provider, id, name, contextLength, inMicrosPerMTok, outMicrosPerMTok'
		});
	}
	fake.addModel(provider, id, { name, contextLength, inMicrosPerMTok, outMicrosPerMTok });
	sendJson(res, 200, { ok: true });
}
