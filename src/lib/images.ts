/**
 * Images people send to vision models, for the browser (the composer checks before it sends) and
 * the server (both chat surfaces check again). One definition of what every provider takes.
 */

/** The image types every vision provider we serve takes (Anthropic's list is the shortest). */
export const IMAGE_MEDIA_TYPES: readonly string[] = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
/** Anthropic's per-image limit, the tightest of the vision providers (OpenAI and Gemini take 20 MB). */
export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
/** Images per web-chat message (the API takes more: MAX_IMAGES in openai-api). */
export const MAX_CHAT_IMAGES = 4;

/** Decoded size of base64 text, without decoding it. */
export function base64Bytes(base64: string): number {
	const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
	return Math.max(0, Math.floor((base64.length * 3) / 4) - padding);
}

export type DataUrlReading =
	| { ok: true; mediaType: string; base64: string; bytes: number }
	| {
			ok: false;
			problem: 'not_data_url' | 'unsupported_type' | 'too_large' | 'empty';
			mediaType?: string;
			bytes?: number;
	  };

/**
 * A base64 `data:` URL checked for type and size. Only the header is matched: a regular
 * expression over megabytes of base64 would hold the event loop for tens of milliseconds.
 */
export function readImageDataUrl(url: string): DataUrlReading {
	const comma = url.indexOf(',');
	const header = /^data:([\w.+-]+\/[\w.+-]+);base64$/.exec(url.slice(0, Math.max(comma, 0)));
	if (comma < 0 || !header?.[1]) return { ok: false, problem: 'not_data_url' };
	const mediaType = header[1].toLowerCase();
	if (!IMAGE_MEDIA_TYPES.includes(mediaType)) return { ok: false, problem: 'unsupported_type', mediaType };
	const base64 = url.slice(comma + 1);
	const bytes = base64Bytes(base64);
	if (bytes > MAX_IMAGE_BYTES) return { ok: false, problem: 'too_large', mediaType, bytes };
	if (bytes === 0) return { ok: false, problem: 'empty', mediaType };
	return { ok: true, mediaType, base64, bytes };
}

export const formatMegabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Whether the bytes start as a file of `mediaType` does (so a PNG label cannot carry anything else). */
export function matchesImageSignature(bytes: Uint8Array, mediaType: string): boolean {
	const starts = (...values: number[]) => values.every((value, i) => bytes[i] === value);
	const ascii = (at: number, text: string) => [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));
	switch (mediaType) {
		case 'image/png':
			return starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
		case 'image/jpeg':
			return starts(0xff, 0xd8, 0xff);
		case 'image/gif':
			return ascii(0, 'GIF87a') || ascii(0, 'GIF89a');
		case 'image/webp':
			return ascii(0, 'RIFF') && ascii(8, 'WEBP');
		default:
			return false;
	}
}
