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

// Verifying against this hash when the email is unknown makes that answer take as long as a
// wrong password, so response time does not reveal which emails have accounts.
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
	dummyHash ??= hashPassword('latchkey-timing-equalizer-not-a-password');
	await verifyPassword(await dummyHash, password);
}
