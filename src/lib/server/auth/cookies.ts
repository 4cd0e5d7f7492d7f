import type { Cookies } from '@sveltejs/kit';
import type { Session } from 'lucia';
import type { LuciaAuth } from './lucia';

/**
 * Session cookies: httpOnly, sameSite=lax, path=/, and secure whenever the request came over
 * https (adapter-node learns that from ORIGIN or the proxy headers).
 */
export function setSessionCookie(lucia: LuciaAuth, cookies: Cookies, session: Session, secure: boolean): void {
	const cookie = lucia.createSessionCookie(session.id);
	cookies.set(cookie.name, cookie.value, { ...cookie.attributes, path: '/', httpOnly: true, sameSite: 'lax', secure });
}

export function clearSessionCookie(lucia: LuciaAuth, cookies: Cookies, secure: boolean): void {
	const cookie = lucia.createBlankSessionCookie();
	cookies.set(cookie.name, cookie.value, { ...cookie.attributes, path: '/', httpOnly: true, sameSite: 'lax', secure });
}
