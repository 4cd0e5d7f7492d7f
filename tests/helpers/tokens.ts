import { createAccessToken as createAccessTokenUnrecorded } from '$lib/server/auth';
import { recordSecret } from './test-output';

/** `createAccessToken` for tests: the token it returns is one the whole-suite leak scan looks for. */
export async function createAccessToken(
	...args: Parameters<typeof createAccessTokenUnrecorded>
): ReturnType<typeof createAccessTokenUnrecorded> {
	const created = await createAccessTokenUnrecorded(...args);
	recordSecret(created.token);
	return created;
}
