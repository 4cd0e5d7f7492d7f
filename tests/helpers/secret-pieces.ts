/**
 * How leak scans look for a secret: every 8-character piece of its private part, after the
 * public prefix that says what kind of secret it is (`sk-proj-`, `lk_`). Finding any piece in a
 * log is a leak, even where the whole secret was cut or partly masked.
 */
export const PUBLIC_PREFIX = /^(sk-ant-api03-|sk-proj-|sk-or-v1-|sk-|AIza|lk_)/;

/** Every 8-character piece of each secret's private part (after its public prefix). */
export function secretPieces(secrets: readonly string[], pieceLength = 8): string[] {
	const pieces = new Set<string>();
	for (const secret of secrets) for (const piece of privatePieces(secret, undefined, pieceLength)) pieces.add(piece);
	return [...pieces];
}

/** The pieces of one secret after `publicLength` characters (default: its public prefix). */
export function privatePieces(secret: string, publicLength?: number, pieceLength = 8): string[] {
	const secretPart = secret.slice(publicLength ?? PUBLIC_PREFIX.exec(secret)?.[0].length ?? 0);
	const pieces: string[] = [];
	for (let i = 0; i + pieceLength <= secretPart.length; i++) pieces.push(secretPart.slice(i, i + pieceLength));
	return pieces;
}

/** The pieces of `secrets` found in `text` (empty when nothing leaked). */
export function leakedPieces(text: string, secrets: readonly string[]): string[] {
	return secretPieces(secrets).filter((piece) => text.includes(piece));
}
