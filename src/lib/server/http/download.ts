/**
 * `content-disposition` for a download named after something a person typed (a title): an ASCII
 * fallback plus the RFC 5987 UTF-8 name, with nothing that could end the header or a path.
 */
export function attachmentName(name: string, extension: string): string {
	const cleaned = name
		.normalize('NFC')
		.replace(/[\p{Cc}\\/:*?"<>|]+/gu, ' ')
		.replace(/\s+/g, ' ')
		.trim();
	// By code point, so a cut never splits an emoji into a lone surrogate (encodeURIComponent throws on one).
	const base = Array.from(cleaned).slice(0, 80).join('').trim() || 'export';
	const ascii = base.replace(/[^\x20-\x7e]/g, '_').replace(/[%;]/g, '_');
	const utf8 = encodeURIComponent(`${base}.${extension}`).replace(
		/['()*]/g,
		(c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`
	);
	return `attachment; filename="${ascii}.${extension}"; filename*=UTF-8''${utf8}`;
}
