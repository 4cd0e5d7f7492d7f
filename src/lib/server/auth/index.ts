export { createLucia, SESSION_COOKIE_NAME, type LuciaAuth } from './lucia';
export { signUp, signIn, signOut, createAccount, type AuthDeps, type AccountUser, type SignedIn } from './accounts';
export {
	grantAdmin,
	revokeAdmin,
	listAdmins,
	adminRoleInput,
	type RoleActor,
	type RoleTarget,
	type RoleChange
} from './roles';
export {
	createInvite,
	listInvites,
	revokeInvite,
	createInviteInput,
	revokeInviteInput,
	type InviteSummary
} from './invites';
export { hashPassword, verifyPassword } from './password';
export {
	signUpInput,
	signInInput,
	changePasswordInput,
	emailSchema,
	MIN_PASSWORD_LENGTH,
	MAX_PASSWORD_LENGTH
} from './schemas';
export { setSessionCookie, clearSessionCookie } from './cookies';
export { changePassword, type PasswordChanged } from './password-change';
export {
	createAccessToken,
	listAccessTokens,
	revokeAccessToken,
	revokeAllAccessTokens,
	ACCESS_TOKEN_PREFIX,
	type AccessTokenSummary,
	type AccessTokenStatus,
	type CreatedAccessToken,
	type TokenRequestMeta
} from './tokens';
export {
	verifyAccessToken,
	authenticateBearer,
	accessTokenCheck,
	acceptAccessToken,
	invalidAccessToken,
	bearerOf,
	type AccessTokenOwner,
	type TouchFailed
} from './token-check';
export {
	createAccessTokenInput,
	revokeAccessTokenInput,
	MAX_ACTIVE_TOKENS_PER_USER,
	MAX_TOKEN_NAME_LENGTH,
	MAX_TOKEN_LIFETIME_DAYS,
	MAX_TOKEN_BUDGET_USD,
	type CreateAccessTokenInput,
	type RevokeAccessTokenInput
} from './token-schemas';
export { scopeAllows, describeScope, SCOPE_PATTERN, MAX_SCOPE_PATTERNS, type ModelScope } from './token-scope';
