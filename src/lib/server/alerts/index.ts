export {
	getAlertSettings,
	setWebhook,
	rotateWebhookSecret,
	removeWebhook,
	setEmailAlerts,
	checkWebhookUrl,
	setWebhookInput,
	setEmailInput,
	type AlertSettings,
	type AlertSettingsDeps
} from './settings';
export { listDeliveries, listDeliveriesInput, queueTestDelivery, type AlertDelivery } from './log';
export { createMailer, type Mailer, type MailMessage } from './mail';
export { subjectOf, type AlertPayload } from './deliver';
export {
	deliverDueAlerts,
	queueAdminDeliveries,
	startAlertWorker,
	RETRY_DELAYS_SECONDS,
	MAX_ATTEMPTS,
	type AlertWorker,
	type DeliveryWorkerDeps,
	type DeliverySummary
} from './worker';
export { SIGNATURE_HEADER, signatureHeader, verifySignature, generateWebhookSecret } from './signature';
export {
	lastHourAgainstBaseline,
	notifyUnusualUsage,
	UNUSUAL_USAGE_RULES,
	type UnusualUsageRules,
	type UsageHourStats
} from './unusual';
export { resealWebhookSecrets, type WebhookResealResult } from './reseal';
