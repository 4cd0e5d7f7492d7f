/**
 * Prometheus metrics (`GET /metrics`): one registry per process, fed by the routing and key hooks
 * and by the request log handle. See docs/operations.md for the series and suggested alerts.
 */
export {
	createMetrics,
	chatOutcomeOf,
	type Metrics,
	type MetricsOptions,
	type HttpObservation,
	type ChatOutcome
} from './metrics';
export { metricsAccessAllowed } from './access';
