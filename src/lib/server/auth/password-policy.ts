import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * What a new password must not be, beyond its length: one character or a short pattern repeated
 * (`aaaaaaaaaaaa`, `abcabcabcabc`), one of the most common passwords (also with digits or symbols
 * added at the end: `password1234`, `Dragon2024!!!`), or the account's email address.
 *
 * The common passwords are zxcvbn-ts's list (`@zxcvbn-ts/language-common`, `passwords-common`:
 * about 49,000 of the most frequent passwords in leaked password sets), the one zxcvbn itself
 * checks against. It is built into a set on first use, not at start-up.
 */

let common: Set<string> | undefined;
const commonPasswords = () => (common ??= new Set(dictionary['passwords-common'].map((p) => p.toLowerCase())));

/** Digits and symbols people add to a common word to satisfy a rule. */
const TRAILING_DIGITS_AND_SYMBOLS = /[\d\p{P}\p{S}\s]+$/u;
const SHORT_PATTERN_REPEATED = /^(.{1,4})\1+$/su;

export const PASSWORD_MESSAGES = {
	repeated: 'Choose a password that is not one character or a short pattern repeated.',
	common: 'That is one of the most common passwords, which attackers try first. Choose another one.',
	email: 'Choose a password that is not your email address.'
} as const;

/** Why `password` is too weak to set, or null. Length is checked by the schema. */
export function passwordWeakness(password: string): string | null {
	const lowered = password.toLowerCase();
	if (SHORT_PATTERN_REPEATED.test(lowered)) return PASSWORD_MESSAGES.repeated;
	const base = lowered.replace(TRAILING_DIGITS_AND_SYMBOLS, '');
	if (commonPasswords().has(lowered) || (base.length > 0 && commonPasswords().has(base))) {
		return PASSWORD_MESSAGES.common;
	}
	return null;
}

/** True when the password is the email address, or the part before its `@`, in any case. */
export function passwordIsEmail(password: string, email: string): boolean {
	const lowered = password.trim().toLowerCase();
	const address = email.trim().toLowerCase();
	return lowered === address || lowered === address.slice(0, address.lastIndexOf('@'));
}
