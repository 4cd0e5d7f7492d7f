/**
 * `content-disposition` for a download named after something a person typed (a title): an ASCII
 * fallback plus the RFC 5987 UTF-8 name, with nothing that could end the header or a path.
 */
export function attachmentName(name: string, extension: string): string {
	const base =
		name
			.normalize('NFC')
			.replace(/[\p{Cc}\\/:*?"<>|]+/gu, ' ')
			.replace(/\s+/g, ' ')
			.trim()
			.slice(0, 80) || 'export';
	const ascii = base.replace(/[^\x20-\x7e]/g, '_').replace(/[%;]/g, '_');
	return `attachment; filename="${ascii}.${extension}"; filename*=UTF-8''${encodeURIComponent(`${base}.${extension}`)}`;
}
