import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeySource } from '$lib/server/db';
import type { KeyHooks } from '$lib/server/keys';
import type { RoutingHooks } from '$lib/server/routing';
import type { UsageRecord } from '$lib/server/usage';

/**
 * The Prometheus metrics of one process, in a registry of its own (never prom-client's global
 * default registry), so tests can run several sets side by side. Domains never import
 * prom-client: routing and keys call plain hooks, which this module implements.
 *
 * Label values come from fixed vocabularies (providers, key sources, outcome and failure kinds,
 * route ids), never from user input, so the series count stays bounded and no label can carry a
 * key, a token or an email.
 */

/** How a chat request ended, as a bounded label value. */
export type ChatOutcome =
	| 'success'
	| 'client_aborted'
	| 'rate_limited'
	| 'cap_reached'
	| 'upstream_error'
	| 'shutdown'
	| 'database_unavailable'
	| 'rejected'
	| 'error';

const RATE_LIMIT_CODES = new Set(['requests_per_hour', 'tokens_per_hour']);
const CAP_CODES = new Set(['daily_cap', 'app_daily_cap']);
const REJECTED_CODES = new Set([
	'upstream_bad_request',
	'upstream_not_found',
	'no_key',
	'model_not_found',
	'request_exceeds_tokens_per_hour'
]);

export function chatOutcomeOf(record: Pick<UsageRecord, 'success' | 'errorCode'>): ChatOutcome {
	if (record.success) return 'success';
	const code = record.errorCode ?? '';
	if (code === 'client_aborted') return 'client_aborted';
	if (code === 'server_shutdown') return 'shutdown';
	if (code === 'database_unavailable') return 'database_unavailable';
	if (RATE_LIMIT_CODES.has(code)) return 'rate_limited';
	if (CAP_CODES.has(code)) return 'cap_reached';
	if (REJECTED_CODES.has(code)) return 'rejected';
	if (code.startsWith('upstream_')) return 'upstream_error';
	return 'error';
}

/** Seconds buckets for time to first token and whole answers (streams last seconds to minutes). */
const CHAT_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300];
/** HTTP handling until the response starts: mostly milliseconds. */
const HTTP_SECONDS_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
	/** Also collect Node process metrics (memory, CPU, event loop, GC), prefixed `latchkey_`. */
	processMetrics?: boolean;
	/** Sampled at scrape time: usage records and settlements waiting for the database. */
	pendingWrites?: () => number;
}

export interface HttpObservation {
	method: string;
	/** The SvelteKit route id (`/api/chat`), `/api/trpc`, or `unmatched`: never a raw path. */
	route: string;
	status: number;
	seconds: number;
}

export interface Metrics {
	registry: Registry;
	/** Register as `services.routingHooks`. */
	routingHooks: RoutingHooks;
	keyHooks: KeyHooks;
	observeHttp(observation: HttpObservation): void;
	/** A request answered 503 because PostgreSQL could not be reached. */
	databaseUnavailable(): void;
	/** Prometheus text exposition. */
	render(): Promise<string>;
	contentType: string;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
	const registry = new Registry();
	if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'latchkey_' });
	const registers = [registry];

	const chatRequests = new Counter({
		name: 'latchkey_chat_requests_total',
		help: 'Chat requests that reached routing, by model provider, key source and outcome.',
		labelNames: ['provider', 'key_source', 'outcome'] as const,
		registers
	});
	const providerFailures = new Counter({
		name: 'latchkey_provider_failures_total',
		help: 'Failed provider calls (each try), by provider that served, key source, failure kind and phase.',
		labelNames: ['provider', 'key_source', 'failure', 'phase'] as const,
		registers
	});
	const fallbacks = new Counter({
		name: 'latchkey_fallbacks_total',
		help: 'Requests answered by another key than the first choice, by model provider and reason.',
		labelNames: ['provider', 'reason'] as const,
		registers
	});
	const refusals = new Counter({
		name: 'latchkey_limit_refusals_total',
		help: 'Admissions refused by a rate limit or a daily spending cap, by provider, key source and limit.',
		labelNames: ['provider', 'key_source', 'limit'] as const,
		registers
	});
	const keyValidations = new Counter({
		name: 'latchkey_key_validations_total',
		help: 'Live checks of stored or submitted provider keys, by provider, result and trigger.',
		labelNames: ['provider', 'result', 'trigger'] as const,
		registers
	});
	const spend = new Counter({
		name: 'latchkey_spend_microdollars_total',
		help: 'Money spent on provider calls in micro-dollars (1e-6 USD), by model provider and key source.',
		labelNames: ['provider', 'key_source'] as const,
		registers
	});
	const tokens = new Counter({
		name: 'latchkey_tokens_total',
		help: 'Tokens billed (reported by the provider or estimated), by model provider, key source and kind.',
		labelNames: ['provider', 'key_source', 'kind'] as const,
		registers
	});
	const timeToFirstToken = new Histogram({
		name: 'latchkey_time_to_first_token_seconds',
		help: 'From the start of routing to the first token of the answer, by model provider and key source.',
		labelNames: ['provider', 'key_source'] as const,
		buckets: CHAT_SECONDS_BUCKETS,
		registers
	});
	const chatDuration = new Histogram({
		name: 'latchkey_chat_duration_seconds',
		help: 'Total time of a chat request (routing to the last token or the failure), by model provider, key source and outcome.',
		labelNames: ['provider', 'key_source', 'outcome'] as const,
		buckets: CHAT_SECONDS_BUCKETS,
		registers
	});
	const activeStreams = new Gauge({
		name: 'latchkey_active_streams',
		help: 'Provider answers being streamed right now.',
		registers
	});
	const openReservations = new Gauge({
		name: 'latchkey_open_reservations',
		help: 'Limit reservations held by requests of this instance: admitted, not yet settled or released.',
		registers
	});
	const httpRequests = new Counter({
		name: 'latchkey_http_requests_total',
		help: 'HTTP requests handled, by method, route and status.',
		labelNames: ['method', 'route', 'status'] as const,
		registers
	});
	const httpDuration = new Histogram({
		name: 'latchkey_http_request_duration_seconds',
		help: 'Time until the response starts (headers; streams continue after it), by method and route.',
		labelNames: ['method', 'route'] as const,
		buckets: HTTP_SECONDS_BUCKETS,
		registers
	});
	const databaseUnavailable = new Counter({
		name: 'latchkey_database_unavailable_total',
		help: 'Requests answered 503 because PostgreSQL could not be reached.',
		registers
	});
	const pendingWrites = options.pendingWrites;
	new Gauge({
		name: 'latchkey_pending_writes',
		help: 'Usage records and settlements queued in memory until the database is reachable again.',
		registers,
		collect() {
			this.set(pendingWrites?.() ?? 0);
		}
	});

	const keySourceLabel = (source: KeySource) => source;

	const routingHooks: RoutingHooks = {
		attemptFailed(info) {
			providerFailures.inc({
				provider: info.provider,
				key_source: keySourceLabel(info.keySource),
				failure: info.failure,
				phase: info.afterFirstToken ? 'streaming' : 'before_first_token'
			});
		},
		fellBack(info) {
			fallbacks.inc({ provider: info.provider, reason: info.reason });
		},
		refused(info) {
			refusals.inc({ provider: info.provider, key_source: info.keySource, limit: info.code });
		},
		completed(record) {
			const outcome = chatOutcomeOf(record);
			const labels = { provider: record.provider, key_source: record.keySource };
			chatRequests.inc({ ...labels, outcome });
			if (record.costMicros > 0) spend.inc(labels, record.costMicros);
			if (record.promptTokens > 0) tokens.inc({ ...labels, kind: 'prompt' }, record.promptTokens);
			if (record.completionTokens > 0) tokens.inc({ ...labels, kind: 'completion' }, record.completionTokens);
			if (record.ttftMs !== null) timeToFirstToken.observe(labels, record.ttftMs / 1000);
			if (record.latencyMs !== null) chatDuration.observe({ ...labels, outcome }, record.latencyMs / 1000);
		},
		streamOpened() {
			activeStreams.inc();
		},
		streamClosed() {
			activeStreams.dec();
		},
		reservationOpened() {
			openReservations.inc();
		},
		reservationClosed() {
			openReservations.dec();
		}
	};

	const keyHooks: KeyHooks = {
		checked(info) {
			keyValidations.inc({ provider: info.provider, result: info.result, trigger: info.trigger });
		}
	};

	return {
		registry,
		routingHooks,
		keyHooks,
		observeHttp({ method, route, status, seconds }) {
			const methodLabel = KNOWN_METHODS.has(method) ? method : 'OTHER';
			httpRequests.inc({ method: methodLabel, route, status: String(status) });
			httpDuration.observe({ method: methodLabel, route }, seconds);
		},
		databaseUnavailable() {
			databaseUnavailable.inc();
		},
		render: () => registry.metrics(),
		contentType: registry.contentType
	};
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
