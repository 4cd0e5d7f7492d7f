import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, shaped like Stripe's so receivers can reuse their code:
 * `x-latchkey-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * The timestamp is inside the MAC, so a receiver that rejects old timestamps stops replays.
 */
export const SIGNATURE_HEADER = 'x-latchkey-signature';

/** Five minutes, as Stripe's libraries default to. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A fresh signing secret; `whsec_` makes it recognisable in a leak scan or a paste. */
export function generateWebhookSecret(): string {
	return `whsec_${randomBytes(32).toString('base64url')}`;
}

export function signatureHeader(secret: string, body: string, timestampSeconds: number): string {
	const t = Math.floor(timestampSeconds);
	const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
	return `t=${t},v1=${v1}`;
}

/**
 * What a receiver does: true when some `v1` in the header is the MAC of this body at its
 * timestamp and the timestamp is within `toleranceSeconds` of `nowSeconds`.
 */
export function verifySignature(
	secret: string,
	header: string | null | undefined,
	body: string,
	options: { nowSeconds?: number; toleranceSeconds?: number } = {}
): boolean {
	if (!header) return false;
	const parts = header.split(',').map((part) => part.trim().split('='));
	const t = Number(parts.find(([name]) => name === 't')?.[1]);
	if (!Number.isInteger(t)) return false;
	const now = options.nowSeconds ?? Date.now() / 1000;
	if (Math.abs(now - t) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
	const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
	return parts.some(([name, value]) => {
		if (name !== 'v1' || value === undefined) return false;
		const given = Buffer.from(value);
		return given.length === expected.length && timingSafeEqual(given, expected);
	});
}
