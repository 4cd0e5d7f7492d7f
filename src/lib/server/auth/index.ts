export { createLucia, SESSION_COOKIE_NAME, type LuciaAuth } from './lucia';
export { signUp, signIn, signOut, type AuthDeps, type AccountUser, type SignedIn } from './accounts';
export { hashPassword, verifyPassword } from './password';
export { signUpInput, signInInput, emailSchema, MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH } from './schemas';
export { setSessionCookie, clearSessionCookie } from './cookies';
