import { describe, expect, it } from 'vitest';
import { DUMMY_PASSWORD_HASH, PASSWORD_HASH_PARAMS, hashPassword, verifyPassword } from '$lib/server/auth/password';

describe('password hashing', () => {
	it('keeps the unknown-email dummy hash on the same argon2id parameters as real hashes', async () => {
		const real = await hashPassword('a real password');
		expect(real).toContain(`$argon2id$v=19$${PASSWORD_HASH_PARAMS}$`);
		expect(DUMMY_PASSWORD_HASH).toContain(`$argon2id$v=19$${PASSWORD_HASH_PARAMS}$`);
		expect(await verifyPassword(DUMMY_PASSWORD_HASH, 'a real password')).toBe(false);
	});
});
