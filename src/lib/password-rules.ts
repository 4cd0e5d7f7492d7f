/** The password rules as the forms state them; the server enforces them (`$lib/server/auth`). */
export const MIN_PASSWORD_LENGTH = 12;

export const NEW_PASSWORD_HINT = `At least ${MIN_PASSWORD_LENGTH} characters, not a common password, one repeated character or your email. A passphrase works well.`;
