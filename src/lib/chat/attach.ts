import { IMAGE_MEDIA_TYPES, MAX_CHAT_IMAGES } from '$lib/images';

/**
 * Images attached in the composer, made small enough to send: the whole chat request must stay
 * under the server's 1 MB body limit, so a large photo is scaled down and re-encoded as JPEG in
 * the browser (vision models see ~1.5 megapixels at most anyway).
 */

/** Base64 characters one image may take (four of them, plus text, stay under 1 MB). */
export const IMAGE_BUDGET_CHARS = 220_000;
/** The most a whole chat request may be, text and images together. */
export const REQUEST_BUDGET_CHARS = 1_000_000;
const MAX_SOURCE_BYTES = 30 * 1024 * 1024;
const STEPS = [
	{ side: 1568, quality: 0.85 },
	{ side: 1024, quality: 0.8 },
	{ side: 768, quality: 0.7 }
];

export type Attached = { ok: true; dataUrl: string; name: string } | { ok: false; message: string };

export function readAsDataUrl(blob: Blob): Promise<string> {
	return new Promise((resolve, reject) => {
		const reader = new FileReader();
		reader.onload = () => resolve(String(reader.result));
		reader.onerror = () => reject(reader.error ?? new Error('unreadable'));
		reader.readAsDataURL(blob);
	});
}

async function scaled(file: File, side: number, quality: number): Promise<string> {
	const bitmap = await createImageBitmap(file);
	const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
	const canvas = document.createElement('canvas');
	canvas.width = Math.max(1, Math.round(bitmap.width * scale));
	canvas.height = Math.max(1, Math.round(bitmap.height * scale));
	const context = canvas.getContext('2d');
	if (!context) throw new Error('no canvas');
	context.fillStyle = '#fff'; // transparent areas would turn black in JPEG
	context.fillRect(0, 0, canvas.width, canvas.height);
	context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
	bitmap.close();
	return canvas.toDataURL('image/jpeg', quality);
}

/** One file as a data: URL within the budget, or the reason it cannot be sent. */
export async function attachImage(file: File): Promise<Attached> {
	const name = file.name || 'pasted image';
	if (!IMAGE_MEDIA_TYPES.includes(file.type)) {
		return { ok: false, message: `${name} is not an image the models take: attach PNG, JPEG, GIF or WebP.` };
	}
	if (file.size > MAX_SOURCE_BYTES) return { ok: false, message: `${name} is larger than 30 MB.` };
	try {
		const original = await readAsDataUrl(file);
		if (original.length <= IMAGE_BUDGET_CHARS) return { ok: true, dataUrl: original, name };
		for (const step of STEPS) {
			const dataUrl = await scaled(file, step.side, step.quality);
			if (dataUrl.length <= IMAGE_BUDGET_CHARS) return { ok: true, dataUrl, name };
		}
	} catch {
		return { ok: false, message: `${name} could not be read as an image.` };
	}
	return { ok: false, message: `${name} is too detailed to send even when scaled down. Try a smaller image.` };
}

export function tooManyImages(count: number): string | null {
	return count > MAX_CHAT_IMAGES ? `Attach at most ${MAX_CHAT_IMAGES} images to a message.` : null;
}
