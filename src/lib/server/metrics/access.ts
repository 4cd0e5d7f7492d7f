import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * `GET /metrics` is open when no `METRICS_TOKEN` is configured (scraped on a private network), and
 * otherwise needs `Authorization: Bearer <METRICS_TOKEN>`. Both sides are hashed first so the
 * comparison takes the same time whatever the length or content of what the caller sent.
 */
export function metricsAccessAllowed(authorization: string | null, metricsToken: string | undefined): boolean {
	if (metricsToken === undefined) return true;
	const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
	const presented = match?.[1] ?? '';
	const digest = (text: string) => createHash('sha256').update(text).digest();
	return timingSafeEqual(digest(presented), digest(metricsToken)) && presented.length > 0;
}
