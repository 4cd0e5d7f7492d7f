import { z } from 'zod';
import { formatMegabytes, matchesImageSignature, MAX_CHAT_IMAGES, readImageDataUrl } from '$lib/images';
import { MAX_MESSAGE_CHARS, systemPromptText, type NewImage } from '$lib/server/conversations';
import { badRequest } from '$lib/server/errors';
import { userText } from '$lib/server/validation';

/**
 * One turn of the web chat: a new message (text and images) after `parentId`, or with
 * `regenerate` another answer to the question `parentId`. An edited question is a new message
 * after the original's parent: a sibling, so nothing is overwritten.
 */
export const webChatInput = z
	.object({
		conversationId: z.string().uuid({ message: 'Unknown conversation.' }).optional(),
		/** The message the turn follows; null for a new first message; absent: the newest one. */
		parentId: z.string().uuid({ message: 'Unknown message.' }).nullable().optional(),
		regenerate: z.literal(true, { errorMap: () => ({ message: 'regenerate must be true or left out.' }) }).optional(),
		model: userText(z.string({ required_error: 'Choose a model.' }).min(1, 'Choose a model.').max(200), 'Model ids'),
		content: userText(z.string({ invalid_type_error: 'The message must be text.' }), 'Messages')
			.max(MAX_MESSAGE_CHARS, `Messages can be at most ${MAX_MESSAGE_CHARS.toLocaleString('en-US')} characters.`)
			.optional(),
		images: z
			.array(z.object({ dataUrl: z.string({ required_error: 'Each image needs its data: URL.' }) }).strict())
			.max(MAX_CHAT_IMAGES, `Attach at most ${MAX_CHAT_IMAGES} images to a message.`)
			.optional(),
		/** Only when starting a conversation; later, `conversations.setSystemPrompt`. */
		systemPrompt: systemPromptText.optional(),
		maxTokens: z.number().int().min(1).max(100_000).optional()
	})
	.strict()
	.superRefine((input, ctx) => {
		const issue = (message: string, path: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
		const hasText = (input.content ?? '').trim().length > 0;
		const hasImages = (input.images ?? []).length > 0;
		if (input.regenerate) {
			if (!input.conversationId || !input.parentId)
				issue('Regenerate needs the conversation and the question to answer again.', 'parentId');
			if (input.content !== undefined || hasImages) issue('Regenerate sends no new message.', 'content');
		} else if (!hasText && !hasImages) {
			issue('Write a message first.', 'content');
		}
		if (input.parentId !== undefined && !input.conversationId)
			issue('A reply needs its conversation.', 'conversationId');
		if (input.systemPrompt !== undefined && input.conversationId) {
			issue("Change a conversation's system prompt in its settings, not with a message.", 'systemPrompt');
		}
	});

export type WebChatInput = z.output<typeof webChatInput>;

/** The attached images checked for type and size, in the words a person reads. */
export function imagesOf(input: WebChatInput): NewImage[] {
	return (input.images ?? []).map(({ dataUrl }, index) => {
		const image = readImageDataUrl(dataUrl);
		const which = (input.images ?? []).length > 1 ? `Image ${index + 1}` : 'The image';
		if (image.ok) {
			// Decoded here, before anything is stored or sent: bad base64 decodes short, and the bytes
			// must be the type they claim.
			const bytes = Buffer.from(image.base64, 'base64');
			if (bytes.length === image.bytes && matchesImageSignature(bytes, image.mediaType)) {
				return { mediaType: image.mediaType, base64: image.base64 };
			}
			throw badRequest(`${which} is not a readable ${image.mediaType.slice(6).toUpperCase()} file. Attach it again.`, {
				reason: 'invalid_image'
			});
		}
		switch (image.problem) {
			case 'unsupported_type':
				throw badRequest(`${which} is ${(image.mediaType ?? '').slice(0, 60)}; attach PNG, JPEG, GIF or WebP.`, {
					reason: 'unsupported_image_type'
				});
			case 'too_large':
				throw badRequest(`${which} is ${formatMegabytes(image.bytes ?? 0)}; images may be at most 5 MB.`, {
					reason: 'image_too_large'
				});
			default:
				throw badRequest(`${which} could not be read. Attach it again.`, { reason: 'invalid_image' });
		}
	});
}
