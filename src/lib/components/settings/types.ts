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

/** Result of a Settings form action, as far as one section needs it. */
export interface SectionResult {
	message?: string;
	field?: string | null;
}
