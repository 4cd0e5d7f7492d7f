import { getMessageImage } from '$lib/server/conversations';
import { AppError, httpErrorResponse, notFound } from '$lib/server/errors';
import type { RequestHandler } from './$types';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An image the signed-in person attached to one of their messages; anyone else's is 404. */
export const GET: RequestHandler = async ({ locals, params, request }) => {
	try {
		if (!locals.user) throw new AppError('unauthorized', 'Sign in to see this image.');
		const position = Number(params.position);
		if (!UUID.test(params.messageId) || !Number.isInteger(position) || position < 0 || position > 3) {
			throw notFound('That image does not exist.');
		}
		const image = await getMessageImage(locals.services.db, locals.user.id, params.messageId, position);
		// A stored image never changes, but the browser asks each time (no-cache): once the
		// conversation is deleted or the person signed out, a shared computer shows nothing.
		const etag = `"${params.messageId}-${position}"`;
		if (request.headers.get('if-none-match') === etag) {
			return new Response(null, { status: 304, headers: { etag, 'cache-control': 'private, no-cache' } });
		}
		return new Response(new Uint8Array(image.data), {
			headers: {
				'content-type': image.mediaType,
				etag,
				'cache-control': 'private, no-cache',
				'x-content-type-options': 'nosniff',
				'content-security-policy': "default-src 'none'; sandbox"
			}
		});
	} catch (error) {
		return httpErrorResponse(error, locals.requestId);
	}
};
