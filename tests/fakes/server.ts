// One node:http server that fakes OpenAI, Anthropic, Google Gemini and OpenRouter under path
// prefixes, plus a control plane. See README.md.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropicDialect } from './anthropic';
import { KeyRegistry } from './behaviours';
import { CONTROL_PREFIX, serveControl } from './control';
import { RequestLog, serveProvider, type Dialect } from './engine';
import { googleDialect } from './google';
import { openAIDialect } from './openai';
import { serveOpenRouterOAuth } from './oauth';
import { openRouterDialect } from './openrouter';
import type { FakeBaseUrls, FakeProviders } from './types';
import { PUBLIC_PREFIX } from '../helpers/secret-pieces';
import { recordSecret } from '../helpers/test-output';

export type { Behaviour, BehaviourSpec } from './behaviours';
export { BEHAVIOURS } from './behaviours';
export type { FakeBaseUrls, FakeProviders, FakeRequest, ProviderName } from './types';
export { PROVIDER_NAMES } from './types';
export {
	FAKE_MODELS,
	FAKE_PRICES,
	costUsd,
	fakeCostUsd,
	fakePriceOf,
	findFakeModel,
	usdPerTokenString
} from './catalog';
export type { FakeModel, FakePrice } from './catalog';
import { addFakeModel, clearAddedFakeModels, fakeModel } from './catalog';
export { countCompletionTokens, countPromptTokens, defaultReply, splitIntoChunks, usageFor } from './tokens';
export type { Usage } from './tokens';

const DIALECTS: readonly Dialect[] = [openAIDialect, anthropicDialect, googleDialect, openRouterDialect];

export interface FakeProvidersOptions {
	/** 0 (default) picks a free port. */
	port?: number;
	/** Default 127.0.0.1. */
	host?: string;
}

export function baseUrlsFor(url: string): FakeBaseUrls {
	return {
		openai: `${url}/openai/v1`,
		anthropic: `${url}/anthropic`,
		google: `${url}/google`,
		openrouter: `${url}/openrouter/api/v1`
	};
}

/** Strip `prefix` from `pathname` if it is the prefix or starts with `prefix/`. */
function pathUnder(pathname: string, prefix: string): string | undefined {
	if (pathname === prefix) return '';
	return pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length) : undefined;
}

// Real APIs answer browsers' CORS preflights; so do the fakes, for browser tests.
function allowCors(req: IncomingMessage, res: ServerResponse): boolean {
	res.setHeader('access-control-allow-origin', '*');
	res.setHeader('access-control-expose-headers', '*');
	if (req.method !== 'OPTIONS') return false;
	res.writeHead(204, {
		'access-control-allow-methods': 'GET, POST, OPTIONS',
		'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*',
		'access-control-max-age': '600'
	});
	res.end();
	return true;
}

export async function startFakeProviders(opts: FakeProvidersOptions = {}): Promise<FakeProviders> {
	const host = opts.host ?? '127.0.0.1';
	const keys = new KeyRegistry();
	const log = new RequestLog();
	const server = createServer();
	const url = await listen(server, opts.port ?? 0, host);

	const fake: FakeProviders = {
		url,
		baseUrls: baseUrlsFor(url),
		requests: log.entries,
		registerKey: (provider, key, behaviour) => {
			// Every provider-shaped key a test hands the fakes is one the whole-suite leak scan looks
			// for. (The fakes' own tests also use labelled keys such as `openai-401-0001-…`, which
			// never reach the app and whose labels are words every log holds.)
			if (PUBLIC_PREFIX.test(key)) recordSecret(key);
			keys.register(provider, key, behaviour);
		},
		addModel: (provider, id, o) =>
			addFakeModel(fakeModel(provider, id, o.name, o.contextLength, o.inMicrosPerMTok, o.outMicrosPerMTok)),
		reset: () => {
			keys.clear();
			log.clear();
			clearAddedFakeModels();
		},
		close: () => closeServer(server)
	};

	server.on('request', (req: IncomingMessage, res: ServerResponse) => {
		route(fake, { keys, log }, req, res).catch((error: unknown) => failSafely(res, error));
	});
	return fake;
}

async function route(
	fake: FakeProviders,
	state: { keys: KeyRegistry; log: RequestLog },
	req: IncomingMessage,
	res: ServerResponse
): Promise<void> {
	if (allowCors(req, res)) return;
	const url = new URL(req.url ?? '/', 'http://fake.invalid');
	const controlPath = pathUnder(url.pathname, CONTROL_PREFIX);
	if (controlPath !== undefined) return serveControl(fake, req, res, controlPath);
	if (await serveOpenRouterOAuth((key) => fake.registerKey('openrouter', key, 'ok'), req, res, url)) return;
	for (const dialect of DIALECTS) {
		const path = pathUnder(url.pathname, dialect.prefix);
		if (path !== undefined) return serveProvider(dialect, state, req, res, url, path);
	}
	req.resume();
	res.writeHead(404, { 'content-type': 'application/json' });
	res.end(JSON.stringify({ error: `no fake provider at ${url.pathname}` }));
}

/** A bug in the fakes should show as a 500 (or a dropped connection), not crash the test run. */
function failSafely(res: ServerResponse, error: unknown): void {
	// The client went away while we read its request: nothing to answer, nothing to report.
	if (res.req.destroyed || res.destroyed) return;
	console.error('[fake providers] handler failed:', error);
	if (res.headersSent) {
		res.destroy();
		return;
	}
	res.writeHead(500, { 'content-type': 'application/json' });
	res.end(JSON.stringify({ error: { message: 'fake provider bug', type: 'server_error' } }));
}

function listen(server: Server, port: number, host: string): Promise<string> {
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, host, () => {
			server.off('error', reject);
			const address = server.address() as AddressInfo;
			const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
			resolve(`http://${hostForUrl}:${address.port}`);
		});
	});
}

function closeServer(server: Server): Promise<void> {
	return new Promise((resolve, reject) => {
		if (!server.listening) return resolve();
		server.close((error) => (error ? reject(error) : resolve()));
		// close() waits for open connections (keep-alive, streams); destroy them.
		server.closeAllConnections();
	});
}
