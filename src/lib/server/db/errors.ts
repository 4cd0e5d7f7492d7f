/** Recognizes PostgreSQL errors by SQLSTATE, the same way for `pg` and PGlite. */

function sqlState(error: unknown): string | undefined {
	if (typeof error === 'object' && error !== null && 'code' in error) {
		const code = (error as { code: unknown }).code;
		if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
	}
	return undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
	if (sqlState(error) !== '23505') return false;
	if (!constraint) return true;
	return (error as { constraint?: string }).constraint === constraint;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True when the database could not be reached or went away (server down, restarting,
 * connection lost, pool timeout), as opposed to a query that the database rejected.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
	if (typeof error !== 'object' || error === null) return false;
	const code = (error as { code?: unknown }).code;
	if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
	const state = sqlState(error);
	// 08xxx connection exceptions, 57P01..57P03 admin shutdown / crash / cannot connect now.
	if (state && (state.startsWith('08') || ['57P01', '57P02', '57P03'].includes(state))) return true;
	const message = (error as { message?: unknown }).message;
	return (
		typeof message === 'string' &&
		/(timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Client has encountered a connection error)/i.test(
			message
		)
	);
}
