/**
 * How leak scans look for a secret: every 8-character piece of its private part, after the
 * public prefix that says what kind of secret it is (`sk-proj-`, `lk_`). Finding any piece in a
 * log is a leak, even where the whole secret was cut or partly masked.
 */
export const PUBLIC_PREFIX = /^(sk-ant-api03-|sk-proj-|sk-or-v1-|sk-|AIza|lk_)/;

/** Every 8-character piece of each secret's private part (after its public prefix). */
export function secretPieces(secrets: readonly string[], pieceLength = 8): string[] {
	const pieces = new Set<string>();
	for (const secret of secrets) {
		const prefix = PUBLIC_PREFIX.exec(secret)?.[0] ?? '';
		const secretPart = secret.slice(prefix.length);
		for (let i = 0; i + pieceLength <= secretPart.length; i++) pieces.add(secretPart.slice(i, i + pieceLength));
	}
	return [...pieces];
}

/** The pieces of `secrets` found in `text` (empty when nothing leaked). */
export function leakedPieces(text: string, secrets: readonly string[]): string[] {
	return secretPieces(secrets).filter((piece) => text.includes(piece));
}
