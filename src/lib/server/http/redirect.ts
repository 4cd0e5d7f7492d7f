/**
 * Where to send the browser after sign-in: a path of this site or the fallback, never another
 * host. The value is parsed as the browser will resolve it, since browsers drop tabs and line
 * breaks and read `\` as `/` (`/\t/evil.example` and `/\evil.example` lead off-site), and a
 * normalised path must not start with `//` (`/.//evil.example` would become `//evil.example`).
 */
export function sameOriginPath(target: string | null, origin: string, fallback = '/chat'): string {
	if (!target || !target.startsWith('/') || /[\p{Cc}\s\\]/u.test(target)) return fallback;
	let url: URL;
	try {
		url = new URL(target, origin);
	} catch {
		return fallback;
	}
	if (url.origin !== origin || url.pathname.startsWith('//')) return fallback;
	return `${url.pathname}${url.search}${url.hash}`;
}
