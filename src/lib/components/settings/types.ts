/** What the Settings page shows of a token (the server's `AccessTokenSummary`). */
export interface TokenView {
	id: string;
	name: string;
	prefix: string;
	createdAt: Date;
	lastUsedAt: Date | null;
	expiresAt: Date | null;
	revokedAt: Date | null;
	status: 'active' | 'expired' | 'revoked';
	/** Model ids or `prefix*` patterns; null = every model. */
	modelScope: string[] | null;
	dailyBudgetMicros: number | null;
	monthlyBudgetMicros: number | null;
	spentTodayMicros: number;
	spentThisMonthMicros: number;
}

/** A token just created: the only moment its full value exists outside the client. */
export interface CreatedTokenView {
	id: string;
	name: string;
	prefix: string;
	token: string;
	createdAt: Date;
	expiresAt: Date | null;
}

/** The outcome of a Settings change, as far as one section needs it. */
export interface SectionResult {
	message?: string;
	field?: string | null;
}

export type CreateTokenResult = SectionResult & { created?: CreatedTokenView };
export type RevokeTokenResult = SectionResult & { revoked?: { name: string; prefix: string } };
export type PasswordResult = SectionResult & {
	passwordChanged?: boolean;
	otherSessionsEnded?: number;
	tokensRevoked?: number;
};

/** The page shows one outcome at a time, in the section it belongs to. */
export type SettingsResult =
	| ({ action: 'createToken' } & CreateTokenResult)
	| ({ action: 'revokeToken' } & RevokeTokenResult)
	| ({ action: 'changePassword' } & PasswordResult);

/** The Alerts section's settings (the server's `AlertSettings`): never the secret itself. */
export interface AlertSettingsView {
	webhookUrl: string | null;
	hasSecret: boolean;
	emailEnabled: boolean;
	emailAvailable: boolean;
}

/** One row of the delivery log (the server's `AlertDelivery`). */
export interface AlertDeliveryView {
	id: string;
	channel: 'webhook' | 'email' | 'admin_webhook';
	kind: string;
	status: 'pending' | 'delivered' | 'failed';
	attempts: number;
	nextAttemptAt: Date | null;
	lastHttpStatus: number | null;
	lastError: string | null;
	createdAt: Date;
}
