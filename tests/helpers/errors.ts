import { AppError } from '$lib/server/errors';

/** The AppError a call failed with; fails the test if it succeeded or failed otherwise. */
export async function appErrorFrom(promise: Promise<unknown>): Promise<AppError> {
	try {
		await promise;
	} catch (error) {
		if (error instanceof AppError) return error;
		throw error;
	}
	throw new Error('expected an AppError');
}
