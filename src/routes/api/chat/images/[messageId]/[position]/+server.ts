import { getMessageImage } from '$lib/server/conversations';
import { AppError, httpErrorResponse, notFound } from '$lib/server/errors';
import type { RequestHandler } from './$types';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An image the signed-in person attached to one of their messages; anyone else's is 404. */
export const GET: RequestHandler = async ({ locals, params }) => {
	try {
		if (!locals.user) throw new AppError('unauthorized', 'Sign in to see this image.');
		const position = Number(params.position);
		if (!UUID.test(params.messageId) || !Number.isInteger(position) || position < 0 || position > 3) {
			throw notFound('That image does not exist.');
		}
		const image = await getMessageImage(locals.services.db, locals.user.id, params.messageId, position);
		return new Response(new Uint8Array(image.data), {
			headers: {
				'content-type': image.mediaType,
				// Private to this person; an image never changes once stored.
				'cache-control': 'private, max-age=31536000, immutable',
				'x-content-type-options': 'nosniff',
				'content-security-policy': "default-src 'none'; sandbox"
			}
		});
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
