import { hash, verify } from '@node-rs/argon2';

/**
 * argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane): about 20 ms a hash here,
 * slow for an attacker with a leaked table, fast enough for sign-in. `2` is `Algorithm.Argon2id`
 * (a const enum the bundler cannot inline across packages).
 */
const ARGON2ID = 2;
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
	return hash(password, OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
	try {
		return await verify(passwordHash, password);
	} catch {
		return false;
	}
}

/**
 * Verifying against this hash when the email is unknown makes that answer take as long as a wrong
 * password, so response time does not reveal which emails have accounts. It is a constant made
 * with OPTIONS (tests/unit/password.test.ts checks they match), not made on first use: the first
 * unknown-email sign-in after start-up would otherwise take a hash longer than the others.
 */
export const DUMMY_PASSWORD_HASH =
	'$argon2id$v=19$m=19456,t=2,p=1$cIc7pFT8N4Kw73SiaVXaLQ$ew7Mz+0TFS6/1VFKaFbCrDjipNWY3NyZpoQr0v2CrL8';

/** The parameters a hash made by `hashPassword` carries, e.g. `m=19456,t=2,p=1`. */
export const PASSWORD_HASH_PARAMS = `m=${OPTIONS.memoryCost},t=${OPTIONS.timeCost},p=${OPTIONS.parallelism}`;

export async function burnPasswordCheck(password: string): Promise<void> {
	await verifyPassword(DUMMY_PASSWORD_HASH, password);
}
