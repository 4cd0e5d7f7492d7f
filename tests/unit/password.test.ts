import { describe, expect, it } from 'vitest';
import { DUMMY_PASSWORD_HASH, PASSWORD_HASH_PARAMS, hashPassword, verifyPassword } from '$lib/server/auth/password';
import { PASSWORD_MESSAGES, passwordIsEmail, passwordWeakness } from '$lib/server/auth/password-policy';

describe('password hashing', () => {
	it('keeps the unknown-email dummy hash on the same argon2id parameters as real hashes', async () => {
		const real = await hashPassword('a real password');
		expect(real).toContain(`$argon2id$v=19$${PASSWORD_HASH_PARAMS}$`);
		expect(DUMMY_PASSWORD_HASH).toContain(`$argon2id$v=19$${PASSWORD_HASH_PARAMS}$`);
		expect(await verifyPassword(DUMMY_PASSWORD_HASH, 'a real password')).toBe(false);
	});
});

describe('password policy', () => {
	it.each([
		['one repeated character', 'aaaaaaaaaaaa', PASSWORD_MESSAGES.repeated],
		['a short pattern repeated', 'abcabcabcabc', PASSWORD_MESSAGES.repeated],
		['a common password', '123456789012', PASSWORD_MESSAGES.common],
		['a common password in capitals', 'PASSWORDPASSWORD', PASSWORD_MESSAGES.common],
		['a common word with digits and symbols added', 'Dragon2024!!!', PASSWORD_MESSAGES.common]
	])('refuses %s', (_name, password, message) => {
		expect(passwordWeakness(password)).toBe(message);
	});

	it.each(['correct horse battery staple', 'analytical engine', 'i am the boss here', 'x7#Kq!m2Pz9w'])(
		'accepts %s',
		(password) => {
			expect(passwordWeakness(password)).toBeNull();
		}
	);

	it('refuses the email address or the part before its @, in any case', () => {
		expect(passwordIsEmail('Ada.Lovelace@Example.com', 'ada.lovelace@example.com')).toBe(true);
		expect(passwordIsEmail('ADA.LOVELACE', 'ada.lovelace@example.com')).toBe(true);
		expect(passwordIsEmail('ada.lovelace and more', 'ada.lovelace@example.com')).toBe(false);
	});
});
