import { Lucia, TimeSpan } from 'lucia';
import type { Kysely } from 'kysely';
import type { Database, Role } from '$lib/server/db';
import { KyselyLuciaAdapter } from './adapter';

export const SESSION_COOKIE_NAME = 'latchkey_session';

export function createLucia(db: Kysely<Database>) {
	return new Lucia(new KyselyLuciaAdapter(db), {
		sessionExpiresIn: new TimeSpan(30, 'd'),
		sessionCookie: {
			name: SESSION_COOKIE_NAME,
			// `secure` is decided per request (https or not) when the cookie is set; see cookies.ts.
			attributes: { sameSite: 'lax' }
		},
		getUserAttributes: (attributes) => ({ email: attributes.email, role: attributes.role })
	});
}

export type LuciaAuth = ReturnType<typeof createLucia>;

declare module 'lucia' {
	interface Register {
		Lucia: LuciaAuth;
		DatabaseUserAttributes: { email: string; role: Role };
	}
}
