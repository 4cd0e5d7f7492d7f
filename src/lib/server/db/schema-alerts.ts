import type { ColumnType, Generated } from 'kysely';
import type { CreatedAt } from './schema-columns';

// ---- alerts: webhook and e-mail deliveries (migration 0019) ------------------------------------
export type AlertChannel = 'webhook' | 'email' | 'admin_webhook';
export type AlertDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface AlertSettingsTable {
	user_id: string;
	webhook_url: string | null;
	/** The webhook's signing secret, sealed like a provider key (subject: user, 'webhook'). */
	secret_master_key_id: string | null;
	secret_nonce: Uint8Array | null;
	secret_ciphertext: Uint8Array | null;
	email_enabled: ColumnType<boolean, boolean | undefined, boolean>;
	updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface AlertDeliveriesTable {
	id: Generated<string>;
	/** Null for a test delivery. */
	notification_id: string | null;
	/** Null for the admins' channel. */
	user_id: string | null;
	channel: AlertChannel;
	status: ColumnType<AlertDeliveryStatus, AlertDeliveryStatus | undefined, AlertDeliveryStatus>;
	attempts: ColumnType<number, number | undefined, number>;
	next_attempt_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
	last_http_status: number | null;
	last_error: string | null;
	created_at: CreatedAt;
	delivered_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface AlertDeliveryAttemptsTable {
	id: Generated<number>;
	delivery_id: string;
	attempt: number;
	attempted_at: CreatedAt;
	ok: boolean;
	http_status: number | null;
	error: string | null;
	duration_ms: number;
}

export interface AlertsTables {
	alert_settings: AlertSettingsTable;
	alert_deliveries: AlertDeliveriesTable;
	alert_delivery_attempts: AlertDeliveryAttemptsTable;
}
